"""Trust X-Forwarded-* only from the configured proxy origins (werkzeug ProxyFix, gated)."""

from __future__ import annotations

import ipaddress

from werkzeug.middleware.proxy_fix import ProxyFix


class TrustedProxyFix:
    """Apply ProxyFix for the trusted headers, but only to requests from trusted origins."""

    def __init__(self, wsgi_app, trusted_headers, trusted_origins):
        headers = {h.strip().lower() for h in trusted_headers}
        self.wsgi_app = wsgi_app
        self.networks = [ipaddress.ip_network(o.strip(), strict=False) for o in trusted_origins]
        self.fixed = ProxyFix(
            wsgi_app,
            x_for=1 if "x-forwarded-for" in headers else 0,
            x_proto=1 if "x-forwarded-proto" in headers else 0,
            x_host=1 if "x-forwarded-host" in headers else 0,
            x_port=1 if "x-forwarded-port" in headers else 0,
            x_prefix=1 if "x-forwarded-prefix" in headers else 0,
        )

    def _trusted(self, remote: str) -> bool:
        try:
            address = ipaddress.ip_address(remote)
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    def __call__(self, environ, start_response):
        if self.networks and self._trusted(environ.get("REMOTE_ADDR", "")):
            return self.fixed(environ, start_response)
        return self.wsgi_app(environ, start_response)


def check_origins(origins) -> None:
    """Raise ValueError naming a malformed CIDR."""
    for origin in origins:
        try:
            ipaddress.ip_network(origin.strip(), strict=False)
        except ValueError:
            raise ValueError(f'"{origin}" is not an IP address or CIDR range') from None
