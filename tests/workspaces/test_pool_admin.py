"""Resource pools as engines: site admins add, edit, cordon and delete them; engine addresses
go through the SSRF rules; new workspaces are placed on a pool that takes them.

Engines here are loopback addresses nothing listens on (unreachable at once); the live test
with two Podman services is tests/workspaces/test_pools_live.py.
"""

from __future__ import annotations

import json
import socket

import pytest

from app import db
from app.models import AuditLog, Organization, ResourcePool, Workspace
from app.models.resource_pools import BUILT_IN_ID
from tests.devurls.conftest import make_workspace
from tests.factories import auth_headers, make_token, make_user
from tests.support import tls
from tests.support.workspaces import make_image

POOLS = "/api/private/resource-pools"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


CLOSED = _closed_port()
ENGINE = f"tcp://127.0.0.1:{CLOSED}"


@pytest.fixture
def client(make_app):
    return make_app(CODER_RESOURCE_POOL_ALLOWED_HOSTS=f"127.0.0.1:{CLOSED}").test_client()


def _headers(*roles, username):
    return auth_headers(make_token(make_user(*roles, username=username)), "v0")


@pytest.fixture
def admin():
    return _headers("site-admin", username="admin")


def _create(client, headers, **changes):
    body = {"name": "pool-a", "type": "docker", "hostname": "", "cluster_address": ENGINE}
    return client.post(POOLS, json={**body, **changes}, headers=headers)


def _entries(action):
    with db.database.connection_context():
        return list(
            AuditLog.select().where(
                (AuditLog.resource_type == "resource_pool") & (AuditLog.action == action)
            )
        )


def test_a_site_admin_adds_a_pool_as_the_classic_cli_does(client, admin):
    response = _create(client, admin, hostname="https://pool-a.coder.example.com/")
    assert response.status_code == 201, response.json
    pool = response.json
    assert pool["name"] == "pool-a" and pool["type"] == "docker" and not pool["built_in"]
    assert pool["hostname"] == "https://pool-a.coder.example.com"
    assert pool["envproxy_access_url"] == "https://pool-a.coder.example.com"
    assert pool["config"]["cluster_address"] == ENGINE
    # Checked at once: nothing listens there.
    assert pool["status"] == "unreachable" and pool["status_error"]
    assert pool["last_checked_at"]
    listed = client.get(POOLS, headers=admin).json["kubernetes"]
    assert [p["id"] for p in listed] == [BUILT_IN_ID, pool["id"]]
    [entry] = _entries("create")
    assert entry.resource_id == pool["id"] and entry.status_code == 201
    assert json.loads(entry.diff)["cluster_address"] == {"old": None, "new": ENGINE}


def test_tls_material_is_stored_encrypted_and_never_returned(client, admin):
    cert, key = tls.self_signed("pycoderd")
    cert_pem, key_pem = cert.decode(), key.decode()
    response = _create(
        client, admin, tls_ca_cert=cert_pem, tls_client_cert=cert_pem, tls_client_key=key_pem
    )
    assert response.status_code == 201, response.json
    text = response.get_data(as_text=True)
    assert "PRIVATE KEY" not in text and "CERTIFICATE" not in text and response.json["tls"]
    with db.database.connection_context():
        row = ResourcePool.get_by_id(response.json["id"])
        assert row.tls_key_encrypted and "PRIVATE KEY" not in row.tls_key_encrypted
        diff = _entries("create")[0].diff
    assert "PRIVATE KEY" not in diff and "CERTIFICATE" not in diff
    # A key without its certificate, a key that does not match, TLS on a unix socket: 400s.
    _, other = tls.self_signed()  # another key pair's key
    for body, field in (
        ({"tls_client_key": key_pem}, "tls_client_cert"),
        ({"tls_client_cert": cert_pem, "tls_client_key": other.decode()}, "tls_client_key"),
        ({"tls_ca_cert": "not a certificate"}, "tls_ca_cert"),
    ):
        bad = _create(client, admin, name="pool-b", **body)
        assert bad.status_code == 400, bad.json
        assert field in json.dumps(bad.json), bad.json


@pytest.mark.parametrize(
    "address, why",
    [
        ("tcp://169.254.169.254:80", "not listed"),  # the cloud metadata service
        ("tcp://127.0.0.1:2375", "not listed"),  # another port of a listed host
        ("tcp://10.0.0.5:2376", "not listed"),
        ("unix:///var/run/docker.sock", "own machine"),
        ("ssh://root@192.168.1.10", "not listed"),
        ("http://127.0.0.1:2375", "unix://, tcp:// or ssh://"),
        ("tcp://user:pw@127.0.0.1:2375", "credentials"),
        ("tcp://127.0.0.1", "port"),
        ("tcp://127.0.0.1:2375/containers", "no path"),
    ],
)
def test_engine_addresses_go_through_the_ssrf_rules(client, admin, address, why):
    response = _create(client, admin, cluster_address=address)
    assert response.status_code == 400, response.json
    assert "cluster_address" in json.dumps(response.json["error"]["details"])
    assert why in json.dumps(response.json)
    with db.database.connection_context():
        assert ResourcePool.select().count() <= 1  # the built-in one, if created yet


def test_without_an_allow_list_only_public_hosts(make_app):
    client = make_app().test_client()
    admin = _headers("site-admin", username="admin")
    for address in ("tcp://127.0.0.1:2376", "tcp://[::1]:2376", "tcp://192.168.0.1:2376"):
        response = _create(client, admin, cluster_address=address)
        assert response.status_code == 400
        assert "not a public address" in json.dumps(response.json)
        assert "CODER_RESOURCE_POOL_ALLOWED_HOSTS" in json.dumps(response.json)


def test_a_listed_unix_socket_is_allowed(make_app, tmp_path):
    socket_url = f"unix://{tmp_path}/engine.sock"
    client = make_app(CODER_RESOURCE_POOL_ALLOWED_HOSTS=socket_url).test_client()
    admin = _headers("site-admin", username="admin")
    response = _create(client, admin, cluster_address=socket_url)
    assert response.status_code == 201, response.json
    assert response.json["status"] == "unreachable"


def test_type_and_names(client, admin):
    bad_type = _create(client, admin, type="kubernetes")
    assert bad_type.status_code == 400 and "docker" in json.dumps(bad_type.json)
    assert _create(client, admin).status_code == 201
    taken = _create(client, admin)
    assert taken.status_code == 409
    bad_host = _create(client, admin, name="pool-c", hostname="ftp://x")
    assert bad_host.status_code == 400 and "hostname" in json.dumps(bad_host.json)


def test_only_site_admins_write_and_others_see_404_or_403(client, admin):
    pool = _create(client, admin).json
    manager = _headers("site-manager", username="manager")
    member = _headers(username="member")
    assert _create(client, manager, name="x").status_code == 403
    assert _create(client, member, name="x").status_code == 403
    for headers in (manager, member):  # they see the pool (no allow-list): 403
        assert (
            client.patch(f"{POOLS}/{pool['id']}", json={"name": "y"}, headers=headers).status_code
            == 403
        )
        assert (
            client.post(f"{POOLS}/{pool['id']}/cordon", json={}, headers=headers).status_code == 403
        )
        assert client.post(f"{POOLS}/{pool['id']}/uncordon", headers=headers).status_code == 403
        assert client.delete(f"{POOLS}/{pool['id']}", headers=headers).status_code == 403
        # Members never see the engine's address or why it failed.
        seen = client.get(f"{POOLS}/{pool['id']}", headers=headers).json
        assert seen["config"]["cluster_address"] == "" and seen["status_error"] == ""
    # A pool limited to another organization: the member does not see it at all.
    with db.database.connection_context():
        other = Organization.create(name="other")
    limited = client.patch(
        f"{POOLS}/{pool['id']}", json={"org_whitelist": [other.id]}, headers=admin
    )
    assert limited.status_code == 200, limited.json
    path = f"{POOLS}/{pool['id']}"
    assert client.get(path, headers=member).status_code == 404
    assert client.patch(path, json={"name": "y"}, headers=member).status_code == 404
    assert client.delete(path, headers=member).status_code == 404
    assert client.post(f"{path}/cordon", json={}, headers=member).status_code == 404
    assert client.post(f"{path}/uncordon", headers=member).status_code == 404
    assert client.post(POOLS, json={}).status_code == 401


def test_edit_cordon_uncordon_delete(client, admin):
    pool = _create(client, admin).json
    renamed = client.patch(f"{POOLS}/{pool['id']}", json={"name": "renamed"}, headers=admin)
    assert renamed.status_code == 200 and renamed.json["name"] == "renamed"
    cordoned = client.post(
        f"{POOLS}/{pool['id']}/cordon", json={"reason": "disk replacement"}, headers=admin
    )
    assert cordoned.status_code == 200, cordoned.json
    assert cordoned.json["cordoned"] and cordoned.json["cordon_reason"] == "disk replacement"
    uncordoned = client.post(f"{POOLS}/{pool['id']}/uncordon", headers=admin)
    assert uncordoned.status_code == 200 and not uncordoned.json["cordoned"]
    assert uncordoned.json["cordon_reason"] == ""
    assert len(_entries("write")) == 3
    assert client.delete(f"{POOLS}/{pool['id']}", headers=admin).status_code == 204
    assert client.get(f"{POOLS}/{pool['id']}", headers=admin).status_code == 404
    assert len(_entries("delete")) == 1


def test_the_built_in_pool_keeps_its_engine_and_stays(client, admin):
    address = client.patch(
        f"{POOLS}/{BUILT_IN_ID}", json={"cluster_address": ENGINE}, headers=admin
    )
    assert address.status_code == 400 and "CODER_DOCKER_HOST" in json.dumps(address.json)
    assert client.delete(f"{POOLS}/{BUILT_IN_ID}", headers=admin).status_code == 409
    cordoned = client.post(f"{POOLS}/{BUILT_IN_ID}/cordon", json={"reason": "x"}, headers=admin)
    assert cordoned.status_code == 200 and cordoned.json["cordoned"]


def test_a_pool_with_workspaces_is_not_deleted(client, admin):
    pool = _create(client, admin).json
    workspace = make_workspace(make_user(username="owner"), name="dev")
    with db.database.connection_context():
        Workspace.update(resource_pool_id=pool["id"]).where(Workspace.id == workspace.id).execute()
    response = client.delete(f"{POOLS}/{pool['id']}", headers=admin)
    assert response.status_code == 409 and "1 workspace" in response.json["error"]["msg"]


# --- placement ---------------------------------------------------------------------------


def _set(pool_id, **fields):
    with db.database.connection_context():
        ResourcePool.update(**fields).where(ResourcePool.id == pool_id).execute()


def _new_workspace(client, headers, image_id, name, **body):
    return client.post(
        "/api/v0/workspaces", json={"name": name, "image_id": image_id, **body}, headers=headers
    )


def test_placement_never_picks_a_cordoned_or_unreachable_pool(client, admin):
    image = make_image()
    member = _headers(username="member")
    pool = _create(client, admin).json  # unreachable
    _set(BUILT_IN_ID, status="ready")
    named = _new_workspace(client, member, image.id, "a", resource_pool_id=pool["id"])
    assert named.status_code == 409 and "unreachable" in named.json["error"]["msg"]
    _set(pool["id"], status="ready")
    placed = _new_workspace(client, member, image.id, "b", resource_pool_id=pool["id"])
    assert placed.status_code == 201 and placed.json["resource_pool_id"] == pool["id"]
    # Default: the first ready, uncordoned pool (the built-in one here).
    default = _new_workspace(client, member, image.id, "c")
    assert default.json["resource_pool_id"] == BUILT_IN_ID
    client.post(f"{POOLS}/{BUILT_IN_ID}/cordon", json={"reason": "moving"}, headers=admin)
    moved = _new_workspace(client, member, image.id, "d")
    assert moved.status_code == 201 and moved.json["resource_pool_id"] == pool["id"]
    named = _new_workspace(client, member, image.id, "e", resource_pool_id=BUILT_IN_ID)
    assert named.status_code == 409 and "cordoned (moving)" in named.json["error"]["msg"]
    _set(pool["id"], status="unreachable")
    none = _new_workspace(client, member, image.id, "f")
    assert none.status_code == 409 and "No resource pool" in none.json["error"]["msg"]


def test_the_background_health_loop_checks_every_pool(make_app):
    import threading

    from app.provisioner import pools
    from tests.support.podman import wait_for

    app = make_app(CODER_RESOURCE_POOL_ALLOWED_HOSTS=f"127.0.0.1:{CLOSED}")
    with db.database.connection_context():
        pool = ResourcePool.create(name="silent", cluster_address=ENGINE)
    stop = threading.Event()
    thread = pools.start_health_thread(app, stop)
    try:

        def status():
            with db.database.connection_context():
                return ResourcePool.get_by_id(pool.id).status

        wait_for(lambda: status() == "unreachable", 15, "the health loop's first round")
        with db.database.connection_context():
            row = ResourcePool.get_by_id(pool.id)
            assert row.status_error and row.checked_at is not None
            assert ResourcePool.get_by_id(BUILT_IN_ID).checked_at is not None  # checked too
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
