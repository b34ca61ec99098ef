"""v0 dev URL CRUD: the seed's bodies, validation, conflicts, who may, audit."""

import json

import pytest

from app import db
from app.models import AuditLog, DevURL
from tests import client_types
from tests.devurls.conftest import make_workspace
from tests.factories import auth_headers, make_token, make_user

SEED_CREATE = (
    '{\n  "access": "PRIVATE",\n  "name": "phpapp4",\n  "port": 1029,\n  "scheme": "http"    \n}'
)
SEED_UPDATE = SEED_CREATE.replace("PRIVATE", "AUTHED")
FORM = {"Content-Type": "application/x-www-form-urlencoded"}  # what curl says with --data


@pytest.fixture
def alice():
    user = make_user(username="alice")
    return user, {**auth_headers(make_token(user), "v0"), **FORM}


def test_seed_scenario(client, alice):
    owner, headers = alice
    workspace = make_workspace(owner, name="php")
    base = f"/api/v0/workspaces/{workspace.id}/devurls"

    created = client.post(base, data=SEED_CREATE, headers=headers)
    assert created.status_code == 201, created.json
    devurl = created.json
    assert devurl["name"] == "phpapp4"
    assert (devurl["port"], devurl["access"], devurl["scheme"]) == (1029, "PRIVATE", "http")
    assert devurl["url"] == "http://phpapp4--alice.apps.test"

    listed = client.get(base, headers=headers)
    assert listed.status_code == 200
    assert listed.json == [devurl]

    updated = client.put(f"{base}/{devurl['id']}", data=SEED_UPDATE, headers=headers)
    assert updated.status_code == 200, updated.json
    assert updated.json == {**devurl, "access": "AUTHED"}

    deleted = client.delete(f"{base}/{devurl['id']}", data="{   \n}", headers=headers)
    assert deleted.status_code == 204
    assert client.get(base, headers=headers).json == []
    again = client.delete(f"{base}/{devurl['id']}", data="{}", headers=headers)
    assert again.status_code == 404
    assert again.json["error"]["code"] == "not_found"

    with db.database.connection_context():
        entries = AuditLog.select().where(AuditLog.resource_type == "devurl")
        actions = [(e.action, e.resource_id) for e in entries.order_by(AuditLog.time)]
        write = entries.where(AuditLog.action == "write").get()
    assert actions == [(a, devurl["id"]) for a in ("create", "write", "delete")]
    assert json.loads(write.diff) == {"access": {"old": "PRIVATE", "new": "AUTHED"}}
    assert write.organization_id == workspace.organization_id
    assert write.username == "alice"


def test_environment_aliases_and_path_wins(client, alice):
    owner, headers = alice
    workspace = make_workspace(owner)
    other = make_workspace(owner)
    body = {"port": 8080, "workspace_id": other.id, "environment_id": other.id}
    created = client.post(
        f"/api/v0/environments/{workspace.id}/devurls", json=body, headers=headers
    )
    assert created.status_code == 201
    assert created.json["name"] is None
    assert created.json["url"] == f"http://8080--{workspace.name}-alice.apps.test"
    assert created.json["access"] == "PRIVATE"
    assert client.get(f"/api/v0/workspaces/{other.id}/devurls", headers=headers).json == []
    path = f"/api/v0/environments/{workspace.id}/devurls/{created.json['id']}"
    renamed = client.put(path, json={"name": "web", "scheme": "https"}, headers=headers)
    assert renamed.json["url"] == "http://web--alice.apps.test"
    assert (renamed.json["port"], renamed.json["scheme"]) == (8080, "https")
    kept = client.put(path, json={"name": ""}, headers=headers)  # an empty name: unchanged
    assert kept.json["name"] == "web"
    assert client.delete(path, headers=headers).status_code == 204


def test_put_as_the_classic_cli_sends_it_keeps_the_name(client, alice):
    """`coder urls create <ws> 8080 --access PUBLIC` on a port that has a dev URL sends PUT with
    coder-sdk's PutDevURLReq: every field, `"name": ""` when no --name is given."""
    owner, headers = alice
    workspace = make_workspace(owner)
    base = f"/api/v0/workspaces/{workspace.id}/devurls"
    create = {"workspace_id": workspace.id, "port": 8080, "access": "PRIVATE", "name": "web"}
    created = client.post(base, json={**create, "scheme": "http"}, headers=headers)
    assert created.status_code == 201, created.json
    body = {"workspace_id": workspace.id, "port": 8080, "access": "PUBLIC", "name": ""}
    put = client.put(
        f"{base}/{created.json['id']}", json={**body, "scheme": "http"}, headers=headers
    )
    assert put.status_code == 200, put.json
    listed = client.get(base, headers=headers)
    [devurl] = listed.json
    client_types.check(client_types.GO_DEV_URL, devurl)
    assert (devurl["name"], devurl["access"]) == ("web", "PUBLIC")
    assert devurl["url"] == "http://web--alice.apps.test"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"port": 0}, "port"),
        ({"port": 65536}, "port"),
        ({"port": "http"}, "port"),
        ({}, "port"),
        ({"port": 80, "name": "9lives"}, "name"),
        ({"port": 80, "name": "trailing-"}, "name"),
        ({"port": 80, "name": "a" * 44}, "name"),
        ({"port": 80, "name": "dots.are.out"}, "name"),
        ({"port": 80, "access": "private"}, "access"),
        ({"port": 80, "access": "EVERYONE"}, "access"),
        ({"port": 80, "scheme": "ftp"}, "scheme"),
    ],
)
def test_validation(client, alice, body, field):
    owner, headers = alice
    workspace = make_workspace(owner)
    response = client.post(f"/api/v0/workspaces/{workspace.id}/devurls", json=body, headers=headers)
    assert response.status_code == 400
    assert response.json["error"]["code"] == "bad_request"
    assert [d["field"] for d in response.json["error"]["details"]] == [field]


def test_longest_name_and_malformed_json(client, alice):
    owner, headers = alice
    workspace = make_workspace(owner)
    base = f"/api/v0/workspaces/{workspace.id}/devurls"
    name = "a" + "b_-" * 13 + "bb" + "c"  # the longest: 43 characters
    assert len(name) == 43
    assert client.post(base, json={"port": 1, "name": name}, headers=headers).status_code == 201
    bad = client.post(base, data='{"port": 2,', headers=headers)
    assert bad.status_code == 400
    assert bad.json["error"]["code"] == "bad_request"


def test_conflicts(client, alice):
    owner, headers = alice
    first, second = make_workspace(owner), make_workspace(owner)
    base = f"/api/v0/workspaces/{first.id}/devurls"
    kept = client.post(base, json={"port": 3000, "name": "app"}, headers=headers).json
    other = client.post(base, json={"port": 3001}, headers=headers).json
    for path, body in (
        (base, {"port": 3000}),
        (base, {"port": 3002, "name": "APP"}),  # host names ignore case
        (f"/api/v0/workspaces/{second.id}/devurls", {"port": 4000, "name": "app"}),
        (f"{base}/{other['id']}", {"port": 3000}),
    ):
        send = client.put if path.endswith(other["id"]) else client.post
        response = send(path, json=body, headers=headers)
        assert response.status_code == 409, (path, body)
        assert response.json["error"]["code"] == "conflict"
    # The same port in another workspace, or the same port kept on update, is fine.
    assert (
        client.post(
            f"/api/v0/workspaces/{second.id}/devurls", json={"port": 3000}, headers=headers
        ).status_code
        == 201
    )
    assert (
        client.put(f"{base}/{kept['id']}", json={"port": 3000}, headers=headers).status_code == 200
    )


@pytest.mark.parametrize(
    "roles, allowed",
    [((), False), (("site-auditor",), False), (("site-manager",), True), (("site-admin",), True)],
)
def test_who_may_manage(client, alice, roles, allowed):
    owner, owner_headers = alice
    workspace = make_workspace(owner)
    base = f"/api/v0/workspaces/{workspace.id}/devurls"
    devurl = client.post(base, json={"port": 5000}, headers=owner_headers).json
    headers = auth_headers(make_token(make_user(*roles)), "v0")
    item = f"{base}/{devurl['id']}"
    responses = [
        client.get(base, headers=headers),
        client.post(base, json={"port": 5001}, headers=headers),
        client.put(item, json={"access": "PUBLIC"}, headers=headers),
        client.delete(item, json={}, headers=headers),
    ]
    expected = [200, 201, 200, 204] if allowed else [404] * 4
    assert [r.status_code for r in responses] == expected
    assert client.get(base).status_code == 401


def test_unknown_workspace_and_devurl(client, alice):
    owner, headers = alice
    workspace = make_workspace(owner)
    stranger = make_workspace(make_user())
    assert client.get("/api/v0/workspaces/nope/devurls", headers=headers).status_code == 404
    stranger_devurl = f"/api/v0/workspaces/{stranger.id}/devurls"
    with db.database.connection_context():
        theirs = DevURL.create(workspace=stranger, port=1)
    # Another workspace's dev URL id is unknown under this workspace.
    response = client.put(
        f"/api/v0/workspaces/{workspace.id}/devurls/{theirs.id}", json={}, headers=headers
    )
    assert response.status_code == 404
    assert client.get(stranger_devurl, headers=headers).status_code == 404


def test_url_is_empty_without_wildcard(make_app):
    client = make_app().test_client()
    owner = make_user()
    headers = auth_headers(make_token(owner), "v0")
    workspace = make_workspace(owner)
    response = client.post(
        f"/api/v0/workspaces/{workspace.id}/devurls", json={"port": 80}, headers=headers
    )
    assert response.status_code == 201
    assert response.json["url"] == ""
