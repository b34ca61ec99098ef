"""Resource pools: the built-in pool as the classic CLI reads it, and workspaces placed in it."""

from __future__ import annotations

import pytest

from app import db
from app.models import ResourcePool, Workspace
from app.models.resource_pools import BUILT_IN_ID
from tests.devurls.conftest import make_workspace
from tests.factories import auth_headers, make_token, make_user
from tests.support.workspaces import make_image

POOLS = "/api/private/resource-pools"
CONFIGURED = {
    "CODER_ACCESS_URL": "https://coder.example.com/",
    "CODER_WILDCARD_ACCESS_URL": "*.apps.example.com",
    "CODER_SSH_ADDRESS": "127.0.0.1:2222",
    "CODER_DOCKER_HOST": "unix:///run/podman/podman.sock",
}


def _headers(*roles, username):
    return auth_headers(make_token(make_user(*roles, username=username)), "v0")


def test_the_built_in_pool_as_the_classic_cli_reads_it(make_app):
    client = make_app(**CONFIGURED).test_client()
    member = _headers(username="member")
    response = client.get(POOLS, headers=member)
    assert response.status_code == 200, response.json
    assert response.json == {
        "kubernetes": [
            {
                "id": BUILT_IN_ID,
                "name": "built-in",
                "status": "ready",
                "built_in": True,
                "type": "docker",
                "hostname": "",
                "cordoned": False,
                "cordon_reason": "",
                "status_error": "",
                "last_checked_at": None,
                "tls": False,
                "envproxy_access_url": "https://coder.example.com",
                "devurl_host": "*.apps.example.com",
                "org_whitelist": [],
                "enable_net_v2": False,
                "config": {
                    "cluster_address": "",  # the engine's address is for site admins
                    "default_namespace": "default",
                    "storage_class": "",
                    "cluster_domain_suffix": "",
                    "ssh_enabled": True,
                },
            }
        ]
    }
    [pool] = response.json["kubernetes"]
    one = client.get(f"{POOLS}/{BUILT_IN_ID}", headers=member)
    assert one.status_code == 200 and one.json == pool
    admin = _headers("site-admin", username="admin")
    address = client.get(f"{POOLS}/{BUILT_IN_ID}", headers=admin).json["config"]["cluster_address"]
    assert address == "unix:///run/podman/podman.sock"


def test_an_unconfigured_deployment(make_app, monkeypatch):
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    client = make_app().test_client()
    response = client.get(POOLS, headers=_headers(username="member"))
    [pool] = response.json["kubernetes"]
    # No engine: pending; no SSH gateway; the URL the request came in on; no dev URL host.
    assert pool["status"] == "pending"
    assert pool["config"]["ssh_enabled"] is False
    assert pool["envproxy_access_url"] == "http://localhost"
    assert pool["devurl_host"] == ""


@pytest.mark.parametrize("pool_id", ["nope", "0" * 36, BUILT_IN_ID.upper()])
def test_other_pools_are_404(client, pool_id):
    response = client.get(f"{POOLS}/{pool_id}", headers=_headers(username="member"))
    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"


def test_pools_need_a_login(client):
    assert client.get(POOLS).status_code == 401
    assert client.get(f"{POOLS}/{BUILT_IN_ID}").status_code == 401


def test_every_workspace_names_the_built_in_pool(client):
    owner = make_user(username="owner")
    workspace = make_workspace(owner, name="dev")
    headers = auth_headers(make_token(owner), "v0")
    body = client.get(f"/api/v0/workspaces/{workspace.id}", headers=headers).json
    assert body["resource_pool_id"] == BUILT_IN_ID


def _create_as_the_cli(client, headers, image_id, **changes):
    """`coder envs create` v1.20's body: every field, zero values included."""
    body = {
        "name": "dev",
        "image_id": image_id,
        "org_id": "",
        "image_tag": "latest",
        "cpu_cores": 0,
        "memory_gb": 0,
        "disk_gb": 0,
        "gpus": 0,
        "use_container_vm": False,
        "resource_pool_id": BUILT_IN_ID,
        "namespace": "default",
        "autostart_enabled": False,
        **changes,
    }
    return client.post("/api/v0/workspaces", json=body, headers=headers)


def test_create_takes_the_pool_and_namespace_the_cli_sends(client):
    image = make_image()
    headers = _headers(username="member")
    response = _create_as_the_cli(client, headers, image.id)
    assert response.status_code == 201, response.json
    assert response.json["resource_pool_id"] == BUILT_IN_ID
    for name, changes in (("dev2", {"resource_pool_id": "", "namespace": ""}), ("dev3", {})):
        body = {"name": name, "image_id": image.id}
        if changes:
            body.update(changes)
        response = client.post("/api/v0/workspaces", json=body, headers=headers)
        assert response.status_code == 201, response.json
        assert response.json["resource_pool_id"] == BUILT_IN_ID


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"resource_pool_id": "no-such-pool"}, "resource_pool_id"),
        ({"namespace": "kube-system"}, "namespace"),
    ],
)
def test_create_refuses_an_unknown_pool_or_namespace(client, changes, field):
    image = make_image()
    response = _create_as_the_cli(client, _headers(username="member"), image.id, **changes)
    assert response.status_code == 400, response.json
    assert [d["field"] for d in response.json["error"]["details"]] == [field]
    with db.database.connection_context():
        assert not Workspace.select().exists()


def test_the_migration_places_existing_workspaces_in_the_built_in_pool(app):
    db.downgrade("0011_resource_pools")
    try:
        owner = make_user(username="owner")
        old = make_workspace(owner, name="old")
        with db.database.connection_context():
            Workspace.update(resource_pool_id="").execute()
    finally:
        db.upgrade()
    with db.database.connection_context():
        assert Workspace.get_by_id(old.id).resource_pool_id == BUILT_IN_ID
        pool = ResourcePool.get_by_id(BUILT_IN_ID)
    assert (pool.name, pool.built_in, pool.org_whitelist) == ("built-in", True, "[]")
