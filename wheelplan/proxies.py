"""The proxies a download goes through, as the environment names them, and their failures.

urllib takes a proxy's scheme for the URL's new one (a `socks5://` proxy made an http
download a `socks5:` one), opens a URL of any scheme it has a proxy for, and fails
through a proxy in the words it fails without one: `Connection refused` of the proxy's
address read as the server's. Each is kept here to what pip and uv do.
"""

from __future__ import annotations

import contextlib
import http.client
import urllib.error
import urllib.request
from collections.abc import Iterator
from urllib.parse import urlsplit

from planner.redaction import redacted_proxy


def from_environment() -> dict[str, str]:
    """The proxy for http and for https: HTTP_PROXY, HTTPS_PROXY (NO_PROXY is read per
    request), as read when this is called, and ALL_PROXY for a scheme with none of its
    own, as pip and uv read it. No other scheme's: urllib's handler opens a URL of any
    scheme it has a proxy for through it (ftp_proxy would fetch `ftp:` URLs over http)."""
    found = urllib.request.getproxies()
    return {
        scheme: url
        for scheme in ("http", "https")
        if (url := found.get(scheme) or found.get("all"))
    }


def handlers(proxies: dict[str, str]) -> tuple[urllib.request.BaseHandler, ...]:
    """The handlers that take a request through `proxies` and open it, http and https."""
    spoken = {scheme: url for scheme, url in proxies.items() if _speaks_http(url)}
    return (
        _OtherProxies({scheme: url for scheme, url in proxies.items() if scheme not in spoken}),
        urllib.request.ProxyHandler(spoken),
        _Opener(spoken),
    )


class ProxyFailed(urllib.error.URLError):
    """The connection through a proxy failed (the proxy refused it, or refused to
    tunnel): said as the proxy's, as pip says 'Failed to connect to proxy'. Its reason
    is the connection's error, which may pass as any connection's may."""

    def __init__(self, proxy: str, scheme: str, reason: OSError) -> None:
        super().__init__(reason)
        self.proxy = proxy
        self.scheme = scheme

    def said(self, reason: object) -> str:
        """`reason`, the failure in words, as the proxy's (its password hidden)."""
        return (
            f"cannot connect through the proxy {redacted_proxy(self.proxy)!r} set for"
            f" {self.scheme}: {reason}"
        )


@contextlib.contextmanager
def _as_the_proxy_s(req: urllib.request.Request, proxies: dict[str, str]) -> Iterator[None]:
    """A connection's failure, where `req` goes through a proxy, raised as the proxy's."""
    try:
        yield
    except urllib.error.HTTPError:
        raise
    except urllib.error.URLError as error:
        origin = urlsplit(req.full_url)
        proxy = proxies.get(origin.scheme)
        # ProxyHandler's choice: through the proxy, unless NO_PROXY names the host.
        bypassed = urllib.request.proxy_bypass(origin.netloc)
        if proxy is None or bypassed or not isinstance(error.reason, OSError):
            raise
        raise ProxyFailed(proxy, origin.scheme, error.reason) from None


class _Opener(urllib.request.HTTPSHandler):
    """urllib's http and https handlers in one, a connection's failure through a proxy
    said as the proxy's."""

    def __init__(self, proxies: dict[str, str]) -> None:
        super().__init__()
        self.proxies = proxies

    http_request = urllib.request.AbstractHTTPHandler.do_request_

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        with _as_the_proxy_s(req, self.proxies):
            return self.do_open(http.client.HTTPConnection, req)

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        with _as_the_proxy_s(req, self.proxies):
            return super().https_open(req)


def _speaks_http(proxy: str) -> bool:
    """Whether urllib can go through `proxy`: one given as `host:port` is http's."""
    scheme, separator, _ = proxy.partition("://")
    return not separator or scheme.lower() in ("http", "https")


class _OtherProxies(urllib.request.BaseHandler):
    """What a URL meets that the environment sends through a proxy urllib cannot speak
    to (`socks5://`, as ALL_PROXY often names an SSH tunnel): urllib took the proxy's
    scheme for the URL's new one, and spoke HTTP to it for https."""

    handler_order = urllib.request.ProxyHandler.handler_order - 1

    def __init__(self, proxies: dict[str, str]) -> None:
        self.proxies = proxies

    def http_open(self, req: urllib.request.Request) -> None:
        proxy = self.proxies.get(req.type)
        if proxy is not None and not urllib.request.proxy_bypass(req.host):
            raise urllib.error.URLError(
                f"the proxy {redacted_proxy(proxy)!r} set for {req.type} is not an http or https"
                " proxy, the only kinds wheelplan goes through"
            )

    https_open = http_open


__all__ = ["ProxyFailed", "from_environment", "handlers"]
