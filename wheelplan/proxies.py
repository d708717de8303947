"""The proxies a download goes through, as the environment names them.

urllib takes a proxy's scheme for the URL's new one (a `socks5://` proxy made an http
download a `socks5:` one) and opens a URL of any scheme it has a proxy for: each is
kept here to what pip and uv do.
"""

from __future__ import annotations

import urllib.error
import urllib.request

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
        urllib.request.HTTPHandler(),
        urllib.request.HTTPSHandler(),
    )


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


__all__ = ["from_environment", "handlers"]
