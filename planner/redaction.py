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


def redacted(url: str) -> str:
    """`url` fit for a message: its password, or a user name given alone (a token, often),
    shown as ****, as pip and uv show them."""
    if not (found := _USERINFO.match(url)):
        return url
    user, colon, _ = found[2].partition(":")
    shown = f"{user}:****" if colon else "****"
    return f"{found[1]}{shown}@{url[found.end() :]}"


__all__ = ["redacted"]
