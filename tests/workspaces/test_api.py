"""The v0 workspace API: create, list, get, rebuild, stop, delete, logs, config, aliases."""

import json

import pytest

from app import db
from app.models import AuditLog, Image, ProvisionerJob
from tests import client_types
from tests.factories import auth_headers, make_token, make_user
from tests.support.workspaces import make_image, reload, run_jobs


@pytest.fixture
def no_engine(monkeypatch):
    monkeypatch.delenv("DOCKER_HOST", raising=False)


@pytest.fixture
def member():
    user = make_user(username="member1")
    return user, auth_headers(make_token(user), "v0")


@pytest.fixture
def manager():
    user = make_user("site-manager", username="manager1")
    return user, auth_headers(make_token(user), "v0")


@pytest.fixture
def image(app):
    return make_image()


def _create(client, headers, image_id, **body):
    return client.post(
        "/api/v0/workspaces", json={"name": "dev", "image_id": image_id, **body}, headers=headers
    )


def _audit(action):
    with db.database.connection_context():
        return list(
            AuditLog.select().where(
                (AuditLog.resource_type == "environment") & (AuditLog.action == action)
            )
        )


def test_create_uses_image_defaults_and_is_audited(client, member, image):
    user, headers = member
    response = _create(client, headers, image.id)
    assert response.status_code == 201, response.json
    body = response.json
    assert (body["cpu_cores"], body["memory_gb"], body["disk_gb"]) == (0.5, 0.25, 2)
    assert body["user_id"] == user.id and body["image_tag"] == "latest"
    assert body["updating"] is True
    assert body["latest_stat"]["container_status"] == "CREATING"
    assert body["organization_id"] == image.organization_id
    [entry] = _audit("create")
    assert entry.resource_id == body["id"] and entry.user_id == user.id
    assert json.loads(entry.diff)["name"] == {"old": None, "new": "dev"}


def test_create_validation(client, member, image):
    _, headers = member
    assert _create(client, headers, image.id, name="-bad-").status_code == 400
    assert _create(client, headers, "no-such-image").status_code == 400
    assert _create(client, headers, image.id, cpu_cores=-1).status_code == 400
    assert _create(client, headers, image.id).status_code == 201
    response = _create(client, headers, image.id)
    assert response.status_code == 409
    assert response.json["error"]["code"] == "conflict"


def test_deprecated_images_are_refused(client, member, image):
    _, headers = member
    with db.database.connection_context():
        Image.update(deprecated=True).where(Image.id == image.id).execute()
    response = _create(client, headers, image.id)
    assert response.status_code == 400
    assert "deprecated" in response.json["error"]["msg"]


def test_for_user_id_is_for_managers(client, member, manager, image):
    user, member_headers = member
    _, manager_headers = manager
    other = make_user(username="other1")
    assert _create(client, member_headers, image.id, for_user_id=other.id).status_code == 403
    response = _create(client, manager_headers, image.id, for_user_id=user.id)
    assert response.status_code == 201
    assert response.json["user_id"] == user.id


def test_visibility(client, member, manager, image):
    user, member_headers = member
    manager_user, manager_headers = manager
    other = make_user(username="other2")
    other_headers = auth_headers(make_token(other), "v0")
    mine = _create(client, member_headers, image.id).json
    theirs = _create(client, other_headers, image.id, name="theirs").json

    listed = client.get("/api/v0/workspaces", headers=member_headers).json
    assert [w["id"] for w in listed] == [mine["id"]]
    url = f"/api/v0/workspaces/{theirs['id']}"
    assert client.get(url, headers=member_headers).status_code == 404
    assert client.delete(url, headers=member_headers).status_code == 404

    everything = client.get("/api/v0/workspaces", headers=manager_headers).json
    assert {w["id"] for w in everything} == {mine["id"], theirs["id"]}
    by_user = client.get(f"/api/v0/workspaces?users={other.id}", headers=manager_headers).json
    assert [w["id"] for w in by_user] == [theirs["id"]]
    by_org = client.get(
        f"/api/v0/workspaces?orgs={image.organization_id}", headers=manager_headers
    ).json
    assert len(by_org) == 2
    assert client.get("/api/v0/workspaces?orgs=nope", headers=manager_headers).json == []
    assert client.get(url, headers=manager_headers).status_code == 200


def test_rebuild_rules(client, member, image):
    _, headers = member
    workspace = _create(client, headers, image.id, disk_gb=5).json
    url = f"/api/v0/workspaces/{workspace['id']}"
    response = client.patch(url, json={"disk_gb": 4}, headers=headers)
    assert response.status_code == 400
    assert response.json["error"]["details"][0]["field"] == "disk_gb"
    response = client.patch(url, json={"disk_gb": 8, "cpu_cores": None}, headers=headers)
    assert response.status_code == 200
    assert (response.json["disk_gb"], response.json["cpu_cores"]) == (8, 0.5)
    # The seed: PATCH with "{}" and no JSON content type rebuilds as is.
    response = client.patch(url, data="{}", headers=headers)
    assert response.status_code == 200 and response.json["updating"] is True
    with db.database.connection_context():
        statuses = [
            j.status
            for j in ProvisionerJob.select()
            .where(ProvisionerJob.workspace == workspace["id"])
            .order_by(ProvisionerJob.created_at)
        ]
    assert statuses == ["canceled", "canceled", "pending"]  # superseded builds never run
    assert [e.resource_id for e in _audit("write")] == [workspace["id"]] * 2


def test_no_engine_fails_at_once_naming_the_option(app, client, member, image, no_engine):
    _, headers = member
    workspace = _create(client, headers, image.id).json
    run_jobs(app)
    body = client.get(f"/api/v0/workspaces/{workspace['id']}", headers=headers).json
    assert body["latest_stat"]["container_status"] == "FAILED"
    assert body["updating"] is False
    assert "CODER_DOCKER_HOST" in body["rebuild_messages"][0]["text"]
    logs = client.get(
        f"/api/v0/workspaces/{workspace['id']}/builds/latest/logs", headers=headers
    ).json
    assert [line["type"] for line in logs] == ["start", "error"]
    assert all(line["build_id"] == logs[0]["build_id"] for line in logs)


def test_follow_streams_ndjson_until_the_build_ends(app, client, member, image, no_engine):
    _, headers = member
    workspace = _create(client, headers, image.id).json
    run_jobs(app)
    url = f"/api/v0/workspaces/{workspace['id']}/builds/latest/logs?follow=true"
    response = client.get(url, headers=headers)
    assert response.status_code == 200
    assert response.mimetype == "application/x-ndjson"
    lines = [json.loads(line) for line in response.get_data(as_text=True).splitlines()]
    assert [line["type"] for line in lines] == ["start", "error"]
    other = auth_headers(make_token(make_user(username="nosy")), "v0")
    assert client.get(url, headers=other).status_code == 404


def test_stop_and_delete_without_a_container(app, client, member, image, no_engine):
    _, headers = member
    workspace = _create(client, headers, image.id).json
    url = f"/api/v0/workspaces/{workspace['id']}"
    response = client.put(f"{url}/stop", headers=headers)
    assert response.status_code == 200 and response.json["updating"] is True
    run_jobs(app)
    assert reload(workspace["id"]).container_status == "OFF"
    assert client.delete(url, headers=headers).status_code == 204
    run_jobs(app)
    assert client.get(url, headers=headers).status_code == 404
    assert [e.action for e in _audit("stop")] == ["stop"]
    assert [e.resource_id for e in _audit("delete")] == [workspace["id"]]


def test_environments_are_aliases(client, member, image):
    _, headers = member
    response = client.post(
        "/api/v0/environments", json={"name": "old", "image_id": image.id}, headers=headers
    )
    assert response.status_code == 201
    workspace_id = response.json["id"]
    assert client.get(f"/api/v0/environments/{workspace_id}", headers=headers).status_code == 200
    listed = client.get("/api/v0/workspaces", headers=headers).json
    assert [w["id"] for w in listed] == [workspace_id]


def test_workspaces_config(client, member, manager, image):
    _, member_headers = member
    _, manager_headers = manager
    body = client.get("/api/v0/workspaces/config", headers=member_headers).json
    assert body["max_cpu_cores"] == 0 and body["auto_off_threshold"] == 0
    change = {"max_cpu_cores": 1, "auto_off_threshold": 3_600_000}
    response = client.put("/api/v0/workspaces/config", json=change, headers=member_headers)
    assert response.status_code == 403
    response = client.put("/api/v0/workspaces/config", json=change, headers=manager_headers)
    assert response.status_code == 200 and response.json["max_cpu_cores"] == 1
    assert _create(client, member_headers, image.id, cpu_cores=2).status_code == 400
    created = _create(client, member_headers, image.id, cpu_cores=1)
    assert created.status_code == 201
    assert created.json["auto_off_threshold"] == 3_600_000
    assert [e.resource_id for e in _audit("write")] == ["config"]


def test_workspaces_config_has_the_classic_sdk_fields(client, member, manager):
    """coder-sdk's ConfigWorkspaces: every field omitempty, so a PUT leaves out false and ""."""
    _, member_headers = member
    _, manager_headers = manager
    path = "/api/v0/workspaces/config"
    got = client.get(path, headers=member_headers)
    client_types.check(client_types.GO_CONFIG_WORKSPACES, got.json)
    assert got.json["gpu_vendor"] == "" and got.json["enable_p2p"] is False
    put = client.put(path, json={"gpu_vendor": "nvidia"}, headers=manager_headers)
    assert put.status_code == 200, put.json
    client_types.check(client_types.GO_CONFIG_WORKSPACES, put.json)
    assert put.json["gpu_vendor"] == "nvidia"
    # Omitted fields are unchanged; false (what the SDK omits) is accepted.
    put = client.put(path, json={"max_cpu_cores": 2, "enable_p2p": False}, headers=manager_headers)
    assert put.status_code == 200, put.json
    again = client.get(path, headers=member_headers).json
    assert (again["gpu_vendor"], again["max_cpu_cores"]) == ("nvidia", 2)
    assert [json.loads(e.diff).get("gpu_vendor") for e in _audit("write")] == [
        {"old": "", "new": "nvidia"},
        None,
    ]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"enable_container_vms": True}, "enable_container_vms"),
        ({"enable_workspaces_as_code": True}, "enable_workspaces_as_code"),
        ({"enable_p2p": True}, "enable_p2p"),
        ({"gpu_vendor": "intel"}, "gpu_vendor"),
    ],
)
def test_workspaces_config_refuses_what_pycoderd_cannot_do(client, manager, body, field):
    _, headers = manager
    answer = client.put("/api/v0/workspaces/config", json=body, headers=headers)
    assert answer.status_code == 400, answer.json
    client_types.check(client_types.GO_API_ERROR, answer.json)
    [detail] = answer.json["error"]["details"]
    assert detail["field"] == field and detail["detail"]
    config = client.get("/api/v0/workspaces/config", headers=headers).json
    assert config[field] in (False, "")


def test_organization_one_is_not_in_is_hidden(client, member):
    """Issue 14 finding 16: a member creating a workspace in an organization it is not in got
    403 "owner is not a member", telling that the organization exists. Hidden = unknown = 404,
    whether named by `org_id` or reached through one of its images."""
    from app.models import Organization

    _, headers = member
    with db.database.connection_context():
        hidden = Organization.create(name="hidden")
    hidden_image = make_image(organization_id=hidden.id, repository="coder/hidden")
    for org_id in (hidden.id, "00000000-0000-4000-8000-000000000000"):
        answer = _create(client, headers, hidden_image.id, org_id=org_id)
        assert answer.status_code == 404, answer.json
        assert "member" not in answer.json["error"]["msg"]
    unknown_image = _create(client, headers, "no-such-image")
    by_image = _create(client, headers, hidden_image.id)
    assert by_image.status_code == unknown_image.status_code == 400
    assert by_image.json == unknown_image.json
