"""app/registry.py against a real docker-registry on loopback."""

import pytest

from app import registry as oci
from tests.support.live_server import free_port


def client_for(reg, **kwargs):
    kwargs.setdefault("insecure", [reg.host])
    return oci.Client(reg.host, **kwargs)


def test_digest_follows_the_tag(registry):
    first = registry.push_image("client/digest", "latest", busybox=False)
    with client_for(registry) as client:
        client.ping()
        assert client.manifest_digest("client/digest", "latest") == first
        second = registry.push_image("client/digest", "latest", busybox=False, files={"/v": "2"})
        assert second != first
        assert client.manifest_digest("client/digest", "latest") == second
        assert client.tags("client/digest") == ["latest"]


@pytest.mark.parametrize("docker", [False, True])
def test_os_release_read_top_down(registry, docker):
    repo = f"client/osrel{int(docker)}"
    registry.push_image(
        repo,
        "v1",
        busybox=False,
        docker=docker,
        files={
            "/etc/os-release": 'ID=top\nPRETTY_NAME="Top Layer"\nHOME_URL="https://t.example/"\n'
        },
    )
    with client_for(registry) as client:
        assert client.os_release(repo, "v1") == {
            "id": "top",
            "pretty_name": "Top Layer",
            "home_url": "https://t.example/",
        }


def test_os_release_through_symlink_and_lib_fallback(registry):
    registry.push_image(
        "client/debianlike",
        "v1",
        busybox=True,
        os_release=None,
        files={"/usr/lib/os-release": 'ID=debian\nPRETTY_NAME="Debian GNU/Linux 12"\n'},
    )
    with client_for(registry) as client:
        info = client.os_release("client/debianlike", "v1")
    assert info == {"id": "debian", "pretty_name": "Debian GNU/Linux 12", "home_url": ""}


def test_no_os_release_is_none_and_cached_by_digest(registry):
    digest = registry.push_image(
        "client/bare", "v1", busybox=False, os_release=None, files={"/x": "y"}
    )
    with client_for(registry) as client:
        assert client.os_release("client/bare", "v1") is None
    assert oci.OS_RELEASE_CACHE.get(digest) == (True, None)


def test_index_resolves_to_its_manifest(registry):
    inner = registry.push_image("client/index", "amd64", busybox=False)
    index = registry.push_index("client/index", "latest", [inner])
    with client_for(registry) as client:
        assert client.manifest_digest("client/index", "latest") == index
        assert client.resolve_image_manifest("client/index", "latest").digest == inner
        assert client.os_release("client/index", "latest")["id"] == "busyboxtest"


def test_missing_tag_and_repository(registry):
    registry.push_image("client/present", "v1", busybox=False)
    with client_for(registry) as client:
        with pytest.raises(oci.ManifestNotFound, match="client/present:nope"):
            client.manifest_digest("client/present", "nope")
        with pytest.raises(oci.ManifestNotFound, match="client/absent:v1"):
            client.manifest_digest("client/absent", "v1")


def test_unreachable():
    host = f"127.0.0.1:{free_port()}"
    with oci.Client(host, insecure=[host]) as client, pytest.raises(oci.Unreachable):
        client.ping()


def test_loopback_refused_unless_listed(registry):
    with oci.Client(registry.host) as client, pytest.raises(oci.Refused, match="INSECURE"):
        client.ping()
    name = registry.host.replace("127.0.0.1", "localhost")
    with oci.Client(name, insecure=["localhost"]) as client:
        client.ping()


def test_allow_list_refuses_other_hosts_before_looking_them_up(registry, lookups):
    for host in ("registry.example.com", "localhost", "127.0.0.1:1"):
        with pytest.raises(oci.Refused, match="not listed in CODER_REGISTRY_ALLOWED"):
            oci.Client(host, allowed=[registry.host, "[::1]"], insecure=["localhost"])
    assert lookups.calls == []
    for allowed in (["127.0.0.1"], [registry.host]):  # a host with any port, or with this one
        with oci.Client(registry.host, allowed=allowed, insecure=[registry.host]) as client:
            client.ping()


def test_allow_list_covers_the_token_realm(token_registry, lookups):
    """The realm is another host (port): the check at each connection refuses it unlisted."""
    token_registry.push_image("client/allowed", "v1", busybox=False)
    both = [token_registry.host, token_registry.issuer.host]
    credentials = {"username": token_registry.username, "password": token_registry.password}
    with oci.Client(
        token_registry.host, insecure=both, allowed=[token_registry.host], **credentials
    ) as client:
        with pytest.raises(oci.Refused, match=f"{token_registry.issuer.host} is not"):
            client.manifest_digest("client/allowed", "v1")
    with oci.Client(token_registry.host, insecure=both, allowed=both, **credentials) as client:
        assert client.manifest_digest("client/allowed", "v1").startswith("sha256:")
    assert lookups.beyond_loopback == []


def test_basic_auth(auth_registry):
    auth_registry.push_image("client/private", "v1", busybox=False)
    with client_for(auth_registry) as client, pytest.raises(oci.BadCredentials, match="requires"):
        client.manifest_digest("client/private", "v1")
    with client_for(auth_registry, username="pusher", password="wrong") as client:
        with pytest.raises(oci.BadCredentials, match="rejected"):
            client.ping()
    with client_for(
        auth_registry, username=auth_registry.username, password=auth_registry.password
    ) as client:
        client.ping()
        assert client.manifest_digest("client/private", "v1").startswith("sha256:")
        assert client.os_release("client/private", "v1")["id"] == "busyboxtest"


def test_bad_names_never_reach_the_network():
    with pytest.raises(oci.Refused):
        oci.Client("http://evil/")
    with oci.Client("registry.invalid") as client:
        with pytest.raises(oci.ManifestNotFound, match="not a valid repository"):
            client.manifest_digest("../x", "latest")
        with pytest.raises(oci.ManifestNotFound, match="not a valid tag"):
            client.manifest_digest("x", "bad tag")


def test_challenge_and_os_release_parsing():
    scheme, params = oci.parse_challenge(
        'Bearer realm="https://auth.example/token",service="registry.example",scope="a:b:pull"'
    )
    assert scheme == "bearer"
    assert params == {
        "realm": "https://auth.example/token",
        "service": "registry.example",
        "scope": "a:b:pull",
    }
    assert oci.parse_os_release("# c\nID='alpine'\nNAME=Alpine\n") == {
        "id": "alpine",
        "pretty_name": "Alpine",
        "home_url": "",
    }


def test_bearer_token_challenge(token_registry):
    digest = token_registry.push_image("client/tokened", "v1", busybox=False)
    issuer = token_registry.issuer
    both = [token_registry.host, issuer.host]
    credentials = {"username": token_registry.username, "password": token_registry.password}
    with oci.Client(token_registry.host, insecure=both, **credentials) as client:
        client.ping()
        assert client.manifest_digest("client/tokened", "v1") == digest
        assert client.os_release("client/tokened", "v1")["id"] == "busyboxtest"
    assert issuer.requests[-1] == {
        "account": token_registry.username,
        "scope": ["repository:client/tokened:pull"],
    }


def test_token_realm_on_another_host_must_be_allowed_too(token_registry):
    token_registry.push_image("client/realm", "v1", busybox=False)
    credentials = {"username": token_registry.username, "password": token_registry.password}
    only_registry = [token_registry.host]
    with oci.Client(token_registry.host, insecure=only_registry, **credentials) as client:
        with pytest.raises(oci.Refused, match=token_registry.issuer.host):
            client.manifest_digest("client/realm", "v1")


def test_token_service_rejections(token_registry):
    token_registry.push_image("client/denied", "v1", busybox=False)
    both = [token_registry.host, token_registry.issuer.host]
    wrong = {"username": token_registry.username, "password": "wrong"}
    with oci.Client(token_registry.host, insecure=both, **wrong) as client:
        with pytest.raises(oci.BadCredentials, match="token service .* rejected the username"):
            client.manifest_digest("client/denied", "v1")
    with oci.Client(token_registry.host, insecure=both) as client:
        with pytest.raises(oci.BadCredentials, match="rejected anonymous access"):
            client.manifest_digest("client/denied", "v1")
