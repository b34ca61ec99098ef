"""Dev URLs that lead back to pycoderd: refused before they tie up a second worker thread.

Every proxied request carries a hop marker naming this deployment (`X-Pycoderd-Hop`, a value
derived from the secret key, so every worker and instance of the deployment knows it and no one
learns the key); a request that arrives with it has gone round once: 508 Loop Detected. On the
host network a workspace port is a port of this machine, so pycoderd's own listeners (HTTP, SSH,
metrics) are refused as targets before any connection is made.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress

from app import errors

HOP_HEADER = "X-Pycoderd-Hop"
_HOP_ENVIRON = "HTTP_X_PYCODERD_HOP"
# The listeners a dev URL could reach on the host network: (option key, its environment name,
# the key of the switch that turns it on, if any).
_LISTENERS = (
    ("http_address", "CODER_HTTP_ADDRESS", None),
    ("pycoderd.ssh_address", "CODER_SSH_ADDRESS", None),
    ("prometheus.address", "CODER_PROMETHEUS_ADDRESS", "prometheus.enable"),
)


class LoopDetected(errors.APIError):
    status, code, message = 508, "loop_detected", "This dev URL leads back to pycoderd."


class Guard:
    def __init__(self, settings, secret: str):
        self.mark = hmac.new(secret.encode(), b"pycoderd.devurl-hop", hashlib.sha256).hexdigest()
        self.mark = self.mark[:16]
        self.host_network = settings["pycoderd.workspace_network"] == "host"
        self.own_ports = _own_ports(settings)

    def check_request(self, environ) -> None:
        """Refuse a request that this deployment's proxy has forwarded already."""
        marks = environ.get(_HOP_ENVIRON, "")
        if marks and self.mark in {mark.strip() for mark in marks.split(",")}:
            raise LoopDetected(
                detail="The request came back through this deployment's dev URL proxy: the dev "
                "URL's port leads to pycoderd itself."
            )

    def check_target(self, address: str, port: int) -> None:
        """Refuse pycoderd's own listening ports as a workspace target on this machine."""
        option = self.own_ports.get(port)
        if option and (self.host_network or _is_loopback(address)):
            raise LoopDetected(
                detail=f"Port {port} is pycoderd's own ({option}), not a workspace app's."
            )

    def hop(self, environ) -> tuple[str, str]:
        """The marker header for the request going on: earlier hops' marks, then ours."""
        earlier = environ.get(_HOP_ENVIRON, "").strip()
        return HOP_HEADER, f"{earlier}, {self.mark}" if earlier else self.mark


def _own_ports(settings) -> dict[int, str]:
    ports = {}
    for key, env, switch in _LISTENERS:
        if switch and not settings[switch]:
            continue
        _, _, port = (settings[key] or "").rpartition(":")
        if port.isdigit():
            ports.setdefault(int(port), env)
    return ports


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return address == "localhost"
