"""Trust X-Forwarded-* only from the configured proxy origins (werkzeug ProxyFix, gated)."""

from __future__ import annotations

import ipaddress

from werkzeug.middleware.proxy_fix import ProxyFix


class TrustedProxyFix:
    """Apply ProxyFix for the trusted headers, but only to requests from trusted origins."""

    def __init__(self, wsgi_app, trusted_headers, trusted_origins):
        headers = {h.strip().lower() for h in trusted_headers}
        self.wsgi_app = wsgi_app
        self.networks = networks(trusted_origins)
        self.fixed = ProxyFix(
            wsgi_app,
            x_for=1 if "x-forwarded-for" in headers else 0,
            x_proto=1 if "x-forwarded-proto" in headers else 0,
            x_host=1 if "x-forwarded-host" in headers else 0,
            x_port=1 if "x-forwarded-port" in headers else 0,
            x_prefix=1 if "x-forwarded-prefix" in headers else 0,
        )

    def __call__(self, environ, start_response):
        if is_trusted(self.networks, environ.get("REMOTE_ADDR", "")):
            return self.fixed(environ, start_response)
        return self.wsgi_app(environ, start_response)


def networks(origins) -> list:
    """CODER_PROXY_TRUSTED_ORIGINS as networks (checked by check_origins at start)."""
    return [ipaddress.ip_network(o.strip(), strict=False) for o in origins]


def is_trusted(trusted_networks, remote: str) -> bool:
    """Whether the peer address `remote` is in one of the trusted networks."""
    try:
        address = ipaddress.ip_address(remote)
    except ValueError:
        return False
    return any(address in network for network in trusted_networks)


def check_origins(origins) -> None:
    """Raise ValueError naming a malformed CIDR."""
    for origin in origins:
        try:
            ipaddress.ip_network(origin.strip(), strict=False)
        except ValueError:
            raise ValueError(f'"{origin}" is not an IP address or CIDR range') from None
