"""The login a user keeps for a host in their netrc file, for a download that has none
or names its user alone.

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


def password_for(host: str, user: str) -> tuple[str, str]:
    """The login of a URL that names `user` at `host` and no password: the netrc
    file's password for `host` where its entry is that user's, as pip 26.3 and uv 0.13.9
    take it, else an empty one. An entry for another user is not sent, as uv sends
    none (pip sends it in the place of the user the URL names)."""
    login = login_for(host)
    return login if login is not None and login[0] == user else (user, "")


__all__ = ["login_for", "password_for"]
