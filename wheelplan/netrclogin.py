"""The login a user keeps for a host in their netrc file, for a download that has none.

A private index's login often lives in `~/.netrc` (or the file `NETRC` names), not in
the lock's URLs: pip sends it unasked (requests reads it), uv after a 401, and a
download without it is refused. A file that cannot be read or parsed (or is not
UTF-8) gives no login, as requests takes it; its text is never shown.
"""

from __future__ import annotations

import netrc
import os


def login_for(host: str) -> tuple[str, str] | None:
    """The login and password the netrc file gives `host` (or its `default` entry)."""
    # `~` in NETRC is the home folder, as pip 26.3 and uv 0.13.9 read it.
    path = os.path.expanduser(os.environ.get("NETRC") or os.path.join("~", ".netrc"))
    try:
        entry = netrc.netrc(path).authenticators(host)
    except (OSError, UnicodeDecodeError, netrc.NetrcParseError):
        return None
    if entry is None or not any(entry):
        return None  # an entry naming nothing, which requests sends no login for
    login, account, password = entry
    # An entry with an account and no login: requests sends the account.
    return login or account or "", password or ""


__all__ = ["login_for"]
