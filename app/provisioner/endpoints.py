"""Container engine endpoints of resource pools: what an address may be, and which may be used.

A pool's `cluster_address` is a Docker Engine API address as the docker SDK takes it:
`unix:///path/to/socket`, `tcp://host:port` (with TLS client certificates when the pool has
them) or `ssh://[user@]host[:port]` (the docker SDK's SSH transport, with the SSH keys, agent
and known_hosts of the user pycoderd runs as).

The same rules as registries keep an admin from pointing pycoderd at what it must not reach
(SSRF): with CODER_RESOURCE_POOL_ALLOWED_HOSTS set, only the hosts it lists (`host` or
`host:port`) may be named, checked before the name is looked up; a listed host may be private.
A host that is not listed must resolve only to public addresses (loopback, private, link-local
addresses such as the cloud metadata service 169.254.169.254, and the like are refused).

A unix socket is a file on pycoderd's own machine (usually its root-equivalent container
engine): it may be used only when the allow-list names it exactly (`unix:///run/podman/
podman.sock`). The built-in pool's CODER_DOCKER_HOST is the operator's own choice and is not
checked.

A name is checked when the pool is saved and again each time an engine client is made for it
(health checks included); a name that changes its answer between the check and the
connection (DNS rebinding) is not caught: list engines by address, or allow-list their names.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from app import registry as oci

SCHEMES = ("unix", "tcp", "ssh")
ALLOW_OPTION = "CODER_RESOURCE_POOL_ALLOWED_HOSTS"


class Refused(ValueError):
    """The address is malformed or not allowed; the message says which and why."""


@dataclass(frozen=True)
class Endpoint:
    url: str  # as normalized: scheme://[user@]host:port, or unix:///path
    scheme: str
    host: str = ""  # lower-cased; IPv6 without brackets
    port: int | None = None
    path: str = ""  # unix sockets

    @property
    def host_text(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host + (f":{self.port}" if self.port is not None else "")


def normalize_allowed(entries: Iterable[str]) -> frozenset[str]:
    """The allow-list as the option gives it: hosts lower-cased, unix:// entries as written."""
    normalized = set()
    for entry in entries:
        entry = (entry or "").strip()
        if not entry:
            continue
        normalized.add(entry if entry.startswith("unix://") else entry.lower())
    return frozenset(normalized)


def parse(url: str) -> Endpoint:
    """The endpoint an address names; Refused when it is not one pycoderd can use."""
    url = (url or "").strip()
    if not url:
        raise Refused("the engine's address is required, e.g. tcp://engine.example.com:2376")
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise Refused("the engine's address may not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise Refused("the engine's address is not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise Refused(
            "the engine's address must start with unix://, tcp:// or ssh:// (a Docker Engine "
            "API address as the docker SDK takes it)"
        )
    if parts.query or parts.fragment:
        raise Refused("the engine's address may not have a query or fragment")
    if scheme == "unix":
        if parts.netloc or not parts.path.startswith("/") or len(parts.path) > 900:
            raise Refused("a unix socket address is unix:///absolute/path/to/the.sock")
        return Endpoint(url=f"unix://{parts.path}", scheme="unix", path=parts.path)
    host = (parts.hostname or "").lower()
    if not host or parts.path not in ("", "/"):
        raise Refused(f"a {scheme} address is {scheme}://host:port, with no path")
    if parts.password is not None or (scheme == "tcp" and parts.username is not None):
        raise Refused("the engine's address may not carry credentials")
    if scheme == "tcp" and port is None:
        raise Refused("a tcp address names its port (2376 with TLS, 2375 without)")
    if port is not None and not 0 < port < 65536:
        raise Refused("the port must be between 1 and 65535")
    bracketed = f"[{host}]" if ":" in host else host
    user = f"{parts.username}@" if parts.username else ""
    netloc = user + bracketed + (f":{port}" if port is not None else "")
    return Endpoint(url=f"{scheme}://{netloc}", scheme=scheme, host=host, port=port)


def check(
    endpoint: Endpoint,
    allowed: frozenset[str],
    resolve: Callable = socket.getaddrinfo,
) -> None:
    """Refused unless the endpoint may be contacted (see the module docstring)."""
    if endpoint.scheme == "unix":
        if endpoint.url not in allowed:
            raise Refused(
                f"{endpoint.url} is a socket on pycoderd's own machine: list it in "
                f"{ALLOW_OPTION} to allow it"
            )
        return
    if allowed:
        if not oci.host_listed(allowed, endpoint.host, endpoint.port):
            raise Refused(f"engine host {endpoint.host_text} is not listed in {ALLOW_OPTION}")
        return
    try:
        literal = ipaddress.ip_address(endpoint.host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            infos = resolve(endpoint.host, endpoint.port or 0, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            raise Refused(f"engine host {endpoint.host_text} cannot be looked up") from None
        addresses = [info[4][0] for info in infos]
    if not addresses or not all(oci.is_public_address(a) for a in addresses):
        raise Refused(
            f"engine host {endpoint.host_text} is not allowed: it is not a public address; "
            f"list it in {ALLOW_OPTION} to allow it"
        )
