"""A probe on name lookups: records every `socket.getaddrinfo` call and lets only loopback
addresses through, so a test can show which names the code under test tried to resolve
without any of them reaching a DNS server."""

from __future__ import annotations

import ipaddress
import socket

LOOPBACK_NAMES = frozenset({"localhost"})


def is_loopback(host) -> bool:
    name = host.decode() if isinstance(host, bytes) else str(host or "")
    if name.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name.strip("[]").split("%", 1)[0]).is_loopback
    except ValueError:
        return False


class LookupProbe:
    """Installed in place of `socket.getaddrinfo` (see the `lookups` fixture)."""

    def __init__(self, real=socket.getaddrinfo):
        self.real = real
        self.calls: list[str] = []  # every host asked for, in order

    def __call__(self, host, port, *args, **kwargs):
        self.calls.append(host.decode() if isinstance(host, bytes) else str(host))
        if not is_loopback(host):
            raise socket.gaierror(socket.EAI_NONAME, f"lookup of {host!r} refused by the test")
        return self.real(host, port, *args, **kwargs)

    @property
    def beyond_loopback(self) -> list[str]:
        return [host for host in self.calls if not is_loopback(host)]
