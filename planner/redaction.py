"""A URL's credentials hidden for a message, as pip and uv hide them.

A lock's URLs, a proxy's and a requirements file's lines may carry a password or a
token (`https://user:password@host/...`): every message that quotes one shows it as
`user:****` (a user name given alone, often a token, as `****`).
"""

from __future__ import annotations

import re

# A URL's scheme and user information: everything from `//` to the last `@` before the
# host's end (urlsplit's reading of it). A scheme starts no later than where a run of
# its characters does, or each would be tried again to the run's end.
_USERINFO = re.compile(r"(?<![A-Za-z0-9+.-])([A-Za-z][A-Za-z0-9+.-]*://)([^/?#]*)@")


def redacted(text: str) -> str:
    """`text` fit for a message: the password of each URL in it (a URL, or a line that
    holds some), or a user name given alone (a token, often), shown as ****, as pip and
    uv show them."""
    return _USERINFO.sub(_hidden, text)


def redacted_proxy(proxy: str) -> str:
    """A proxy's URL fit for a message. It names no path, so its user information runs
    to its last `@`: a `/`, `?` or `#` in a password not percent-encoded, which ends a
    URL's host early, is hidden too."""
    scheme, separator, rest = proxy.partition("://")
    userinfo, at, host = rest.rpartition("@")
    return f"{scheme}{separator}{_shown(userinfo)}@{host}" if at else proxy


def _hidden(found: re.Match[str]) -> str:
    return f"{found[1]}{_shown(found[2])}@"


def _shown(userinfo: str) -> str:
    user, colon, _ = userinfo.partition(":")
    return f"{user}:****" if colon else "****"


__all__ = ["redacted", "redacted_proxy"]
