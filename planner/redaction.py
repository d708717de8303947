"""A URL's credentials hidden for a message, as pip and uv hide them.

A lock's URLs, a proxy's and a requirements file's lines may carry a password or a
token (`https://user:password@host/...`): every message that quotes one shows it as
`user:****` (a user name given alone, often a token, as `****`).
"""

from __future__ import annotations

import re

# A URL's scheme and user information: everything from `//` to the last `@` before the
# host's end (urlsplit's reading of it).
_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)([^/?#]*)@")


def redacted(text: str) -> str:
    """`text` fit for a message: the password of each URL in it (a URL, or a line that
    holds some), or a user name given alone (a token, often), shown as ****, as pip and
    uv show them."""
    return _USERINFO.sub(_hidden, text)


def _hidden(found: re.Match[str]) -> str:
    user, colon, _ = found[2].partition(":")
    return f"{found[1]}{f'{user}:****' if colon else '****'}@"


__all__ = ["redacted"]
