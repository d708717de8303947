"""The urllib opener a lock's wheels are downloaded through, and the requests it sends.

urllib's defaults would follow a URL, a redirect or a proxy where a lock's wheel must
never come from (`file:`, `ftp:`, `data:`), send a URL's credentials to whichever host
a redirect names, and refuse a URL with a space in it: this is where each is kept to
what pip and uv do, apart from storing and checking what comes back (`fetch.py`).
"""

from __future__ import annotations

import base64
import http.client
import string
import urllib.error
import urllib.request
from typing import IO, BinaryIO
from urllib.parse import quote, unquote, urljoin, urlsplit, urlunsplit

from planner.redaction import redacted
from wheelplan import proxies
from wheelplan.contentencoding import ASKED
from wheelplan.netrclogin import login_for, password_for

USER_AGENT = "wheelplan (+https://pypi.org/project/wheelplan/)"
# Every request's: a wheel as it is, as pip and uv ask (contentencoding).
HEADERS = {"User-Agent": USER_AGENT, "Accept-Encoding": ASKED}


def _origin(url: str) -> tuple[str, str | None, int | None]:
    parts = urlsplit(url)
    return parts.scheme, parts.hostname, parts.port or {"http": 80, "https": 443}[parts.scheme]


def _sendable(url: str) -> str:
    """`url` with a space, a control or a non-ASCII character in its path or query
    percent-encoded (as UTF-8), as uv and pip send it: http.client refuses the first two
    and cannot send the last. What is encoded already is left as it is, as urllib leaves
    a redirect's Location."""
    if url.isascii() and url.isprintable() and " " not in url:
        return url
    parts = urlsplit(url)
    return urlunsplit(
        parts._replace(
            path=quote(parts.path, safe=string.punctuation),
            query=quote(parts.query, safe=string.punctuation),
        )
    )


def request(url: str) -> urllib.request.Request:
    """A GET of `url`, sendable. Credentials in it (`user:password@host`, which urllib
    would take for part of the host's name; a user's password the netrc file may give),
    else the netrc file's login for its host, are sent as Basic auth, as pip and uv send
    them, in a header urllib carries across no redirect (`_Redirects` restores it to
    the same origin only)."""
    sendable = _sendable(url)
    parts = urlsplit(sendable)
    host = parts.netloc.rpartition("@")[2]
    request = urllib.request.Request(urlunsplit(parts._replace(netloc=host)), headers=HEADERS)
    if "@" in parts.netloc:
        user = unquote(parts.username or "")
        if parts.password is None:
            _authorize(request, password_for(parts.hostname or "", user))
        else:
            _authorize(request, (user, unquote(parts.password)))
    else:
        _authorize(request, login_for(parts.hostname or ""))
    return request


def _authorize(request: urllib.request.Request, login: tuple[str, str] | None) -> None:
    if login is not None:
        token = base64.b64encode(":".join(login).encode()).decode("ascii")
        request.add_unredirected_header("Authorization", f"Basic {token}")


class _Redirects(urllib.request.HTTPRedirectHandler):
    """urllib's redirects, followed to http and https only, as a lock's URL must be
    (lockfile): urllib would follow one to ftp too. Credentials go to the origin they
    were given for only; a redirect that carries its own is not followed (urllib would
    take them for the host's name, and its error would show the password)."""

    # What a redirect loop is refused with, before the last answer's reason: urllib's
    # own holds line breaks, which an error line shows as '\n'.
    inf_msg = (
        "redirected in a loop or more than"
        f" {urllib.request.HTTPRedirectHandler.max_redirections} times; the last answer: "
    )

    def http_error_302(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
    ) -> BinaryIO | None:
        location = headers.get("location") or headers.get("uri")
        if location is not None:
            target = urljoin(req.full_url, location)
            parts = urlsplit(target)
            problem = (
                "only http and https are"
                if parts.scheme not in ("http", "https")
                else "it carries credentials"
                if "@" in parts.netloc
                else None
            )
            if problem is not None:
                raise urllib.error.HTTPError(
                    req.full_url,
                    code,
                    f"redirect to {redacted(target)!r} not followed: {problem}",
                    headers,
                    fp,
                )
        redirected: BinaryIO | None = super().http_error_302(req, fp, code, msg, headers)
        return redirected

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is None:
            return None
        # A proxy's login, which urllib's ProxyHandler puts among the headers a redirect
        # carries: it puts it back where the new URL goes through a proxy, as uv sends it.
        new.remove_header("Proxy-authorization")
        auth = req.unredirected_hdrs.get("Authorization")
        if auth is not None and _origin(newurl) == _origin(req.full_url):
            new.add_unredirected_header("Authorization", auth)
        else:  # another host's own login, as pip's requests gives it
            _authorize(new, login_for(urlsplit(newurl).hostname or ""))
        return new


class _Errors(urllib.request.HTTPDefaultErrorHandler):
    """urllib's refusal of an error answer, a 401's saying whether a login was sent
    (and where one goes), which the answer alone does not."""

    def http_error_default(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        hdrs: http.client.HTTPMessage,
    ) -> urllib.error.HTTPError:
        if code == 401:
            msg += (
                ": the login sent was refused"
                if req.has_header("Authorization")
                else ": no login was sent; give one in the URL (https://user:password@host/...)"
                " or in ~/.netrc (or the file NETRC names)"
            )
        return super().http_error_default(req, fp, code, msg, hdrs)


class _OnlyHttp(urllib.request.BaseHandler):
    """What a URL of any other scheme meets: urllib's default opener reads `file:` paths,
    `data:` URLs and `ftp:` servers too, which only lockfile's checks kept out."""

    def unknown_open(self, req: urllib.request.Request) -> None:
        raise urllib.error.URLError(
            f"URL scheme {req.type!r} is not supported: wheels are downloaded over http"
            " and https only"
        )


def opener() -> urllib.request.OpenerDirector:
    """urllib's default opener less its `file:`, `ftp:` and `data:` handlers, through
    the environment's proxies (`proxies`)."""
    opener = urllib.request.OpenerDirector()
    for handler in (
        *proxies.handlers(proxies.from_environment()),
        _Errors(),
        _Redirects(),
        urllib.request.HTTPErrorProcessor(),
        _OnlyHttp(),
    ):
        opener.add_handler(handler)
    return opener


OPENER = opener()
