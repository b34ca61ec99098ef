"""Engine addresses of resource pools: parsing, and the SSRF rules names go through (the lookup
is given: no test leaves loopback)."""

from __future__ import annotations

import socket

import pytest

from app.provisioner import endpoints


def resolver(*addresses):
    def resolve(host, port, type=0):  # noqa: A002 - getaddrinfo's own keyword
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]

    return resolve


def failing(host, port, type=0):  # noqa: A002
    raise socket.gaierror("no such name")


@pytest.mark.parametrize(
    "url, normalized",
    [
        ("tcp://Engine.Example.com:2376", "tcp://engine.example.com:2376"),
        ("tcp://[2001:db8::1]:2376/", "tcp://[2001:db8::1]:2376"),
        ("ssh://deploy@engine.example.com", "ssh://deploy@engine.example.com"),
        ("unix:///run/podman/podman.sock", "unix:///run/podman/podman.sock"),
    ],
)
def test_addresses_are_normalized(url, normalized):
    assert endpoints.parse(url).url == normalized


def test_a_name_that_resolves_to_a_private_address_is_refused():
    endpoint = endpoints.parse("tcp://engine.internal.example.com:2376")
    with pytest.raises(endpoints.Refused, match="not a public address"):
        endpoints.check(endpoint, frozenset(), resolve=resolver("10.0.0.5"))
    # One private answer among public ones is enough to refuse.
    with pytest.raises(endpoints.Refused, match="not a public address"):
        endpoints.check(endpoint, frozenset(), resolve=resolver("8.8.8.8", "127.0.0.1"))
    with pytest.raises(endpoints.Refused, match="cannot be looked up"):
        endpoints.check(endpoint, frozenset(), resolve=failing)
    endpoints.check(endpoint, frozenset(), resolve=resolver("8.8.8.8"))  # public: allowed


def test_a_listed_host_is_not_looked_up_and_may_be_private():
    endpoint = endpoints.parse("tcp://engine.internal:2376")
    allowed = endpoints.normalize_allowed(["Engine.Internal:2376", "unix:///Run/X.sock"])
    endpoints.check(endpoint, allowed, resolve=failing)
    with pytest.raises(endpoints.Refused, match="not listed"):
        endpoints.check(endpoints.parse("tcp://engine.internal:2375"), allowed, resolve=failing)
    # unix:// entries keep their case: paths are case-sensitive.
    endpoints.check(endpoints.parse("unix:///Run/X.sock"), allowed)
    with pytest.raises(endpoints.Refused, match="own machine"):
        endpoints.check(endpoints.parse("unix:///run/x.sock"), allowed)


def test_ipv4_mapped_ipv6_is_judged_as_ipv4():
    with pytest.raises(endpoints.Refused, match="not a public address"):
        endpoints.check(endpoints.parse("tcp://[::ffff:127.0.0.1]:2376"), frozenset())


def test_commands_on_a_tls_engine_are_refused_clearly():
    from docker.tls import TLSConfig

    from app.provisioner import docker_engine
    from app.provisioner.engine import EngineError, ExecSpec

    engine = docker_engine.DockerEngine("tcp://127.0.0.1:1", tls=TLSConfig(verify=False))
    try:
        with pytest.raises(EngineError, match="over TLS is not supported yet"):
            engine.exec("c1", ExecSpec(argv=("true",)))
    finally:
        engine.close()
