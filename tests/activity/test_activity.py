"""Activity: pushes, sessions and dev URL visits mark a workspace used and its user active."""

from __future__ import annotations

import datetime as dt

import pytest

from app import db
from app.models import AuditLog, UserActivity, Workspace
from app.services import activity
from tests.devurls.conftest import make_workspace
from tests.factories import auth_headers, make_token, make_user

PUSH = "/api/private/metrics/usage/push"


def _used(workspace_id):
    with db.database.connection_context():
        row = Workspace.get_by_id(workspace_id)
    return row.last_opened_at, row.last_connection_at


def _active_days(user):
    with db.database.connection_context():
        return [a.day for a in UserActivity.select().where(UserActivity.user_id == user.id)]


def test_a_push_marks_the_owners_workspace_used_and_counts_the_owner(client):
    owner = make_user(username="owner")
    workspace = make_workspace(owner, name="dev")
    assert _used(workspace.id) == (None, None)
    headers = auth_headers(make_token(owner), "v0")
    response = client.post(
        PUSH, json={"source": "coder-cli", "workspace_id": workspace.id}, headers=headers
    )
    assert response.status_code == 200, response.json
    assert response.json == {}
    opened, connected = _used(workspace.id)
    assert opened is not None and opened == connected
    assert _active_days(owner) == [opened.date()]

    # The active-users metrics count the owner today (and the admin who asks).
    admin = auth_headers(make_token(make_user("site-admin", username="admin")), "v0")
    today = opened.date()
    tomorrow = today + dt.timedelta(days=1)
    response = client.get(
        "/api/v0/metrics/usage/active-users",
        query_string={"start": f"{today}T00:00:00Z", "end": f"{tomorrow}T00:00:00Z"}
        | {"interval": "1 day"},
        headers=admin,
    )
    assert response.status_code == 200, response.json
    assert response.json["data"][0]["count"] == 2
    # Pushes are frequent and change nothing else: not audited.
    with db.database.connection_context():
        assert not AuditLog.select().where(AuditLog.resource_id == workspace.id).exists()


@pytest.mark.parametrize(
    ("who", "status"),
    [("member", 404), ("site-manager", 403), ("site-admin", 403), (None, 401)],
)
def test_only_the_owner_pushes(client, who, status):
    owner = make_user(username="owner")
    workspace = make_workspace(owner, name="dev")
    headers = {}
    if who is not None:
        roles = () if who == "member" else (who,)
        headers = auth_headers(make_token(make_user(*roles, username="someone")), "v0")
    response = client.post(
        PUSH, json={"source": "coder-cli", "workspace_id": workspace.id}, headers=headers
    )
    assert response.status_code == status, response.json
    assert "error" in response.json
    assert _used(workspace.id) == (None, None)


@pytest.mark.parametrize(
    "body",
    [
        {"source": "coder-cli"},
        {"workspace_id": "x"},
        {"source": "", "workspace_id": "x"},
        {"source": " ", "workspace_id": "WS"},
        {"source": "s" * 65, "workspace_id": "WS"},
        {"source": 3, "workspace_id": "WS"},
        [],
    ],
)
def test_bad_pushes_are_400(client, body):
    owner = make_user(username="owner")
    workspace = make_workspace(owner, name="dev")
    if isinstance(body, dict) and body.get("workspace_id") == "WS":
        body["workspace_id"] = workspace.id
    headers = auth_headers(make_token(owner), "v0")
    response = client.post(PUSH, json=body, headers=headers)
    assert response.status_code == 400, response.json
    assert response.json["error"]["code"] == "bad_request" or response.json["error"]["details"]


def test_unknown_workspace_is_404(client):
    headers = auth_headers(make_token(make_user(username="owner")), "v0")
    for workspace_id in ("nope", "0" * 64):
        response = client.post(
            PUSH, json={"source": "coder-cli", "workspace_id": workspace_id}, headers=headers
        )
        assert response.status_code == 404, response.json


def test_a_session_marks_used_when_it_opens_beats_and_closes(app, monkeypatch):
    owner = make_user(username="owner")
    workspace = make_workspace(owner, name="dev")
    clock = [1000.0]
    monkeypatch.setattr(activity.time, "monotonic", lambda: clock[0])
    session = activity.Session(workspace.id, owner.id, "ssh")
    session.beat()  # the first beat is due at once
    opened, _ = _used(workspace.id)
    assert opened is not None and _active_days(owner) == [opened.date()]
    assert not session.beat_due
    session.beat()  # not due: no write
    assert _used(workspace.id)[0] == opened
    clock[0] += activity.HEARTBEAT_SECONDS
    assert session.beat_due
    session.beat()
    beaten, _ = _used(workspace.id)
    assert beaten > opened
    session.close()
    session.close()  # once
    closed, _ = _used(workspace.id)
    assert closed > beaten
    assert not session.beat_due
