"""Reading a container's address from Docker Engine API inspect answers (Docker's and Podman's)."""

import pytest

from app.provisioner.docker_engine import container_address


def _inspect(mode: str, networks: dict, **top) -> dict:
    return {"HostConfig": {"NetworkMode": mode}, "NetworkSettings": {"Networks": networks, **top}}


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        # Host network: the container's ports are the host's.
        (_inspect("host", {"host": {"IPAddress": ""}}), "127.0.0.1"),
        # Docker's default bridge, with its legacy top-level copy.
        (
            _inspect("bridge", {"bridge": {"IPAddress": "172.17.0.2"}}, IPAddress="172.17.0.2"),
            "172.17.0.2",
        ),
        # Podman's compatible API calls its default network "podman".
        (_inspect("bridge", {"podman": {"IPAddress": "10.88.0.5"}}), "10.88.0.5"),
        # A user-defined network: the one named by the mode wins over others.
        (
            _inspect(
                "back", {"a-front": {"IPAddress": "10.1.0.2"}, "back": {"IPAddress": "10.2.0.2"}}
            ),
            "10.2.0.2",
        ),
        # IPv6 only.
        (_inspect("v6", {"v6": {"IPAddress": "", "GlobalIPv6Address": "fd00::5"}}), "fd00::5"),
        # Only the legacy field.
        (_inspect("default", {}, IPAddress="172.17.0.9"), "172.17.0.9"),
        # Nothing usable: stopped, no network, or not an address at all.
        (_inspect("bridge", {"bridge": {"IPAddress": ""}}), ""),
        (_inspect("none", {}), ""),
        (_inspect("bridge", {"bridge": {"IPAddress": "evil.example:80/"}}), ""),
        ({}, ""),
    ],
)
def test_container_address(info, expected):
    assert container_address(info) == expected
