"""wsep and watch-update before the WebSocket opens: who is refused, and what the answer is
outside gunicorn (the Flask test client cannot take a connection over: 501)."""

from __future__ import annotations

import pytest

from app import db
from app.models import AuditLog, Workspace
from tests.devurls.conftest import make_workspace
from tests.factories import make_token, make_user

HANDSHAKE = {
    "Connection": "Upgrade",
    "Upgrade": "websocket",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version": "13",
}


def _workspace(owner, status="ON"):
    workspace = make_workspace(owner, status=status)
    with db.database.connection_context():
        Workspace.update(container_id="c0ffee").where(Workspace.id == workspace.id).execute()
    return workspace


def _wsep(workspace) -> str:
    return f"/proxy/workspaces/{workspace.id}/wsep"


def _watch(workspace) -> str:
    return f"/api/private/workspaces/{workspace.id}/watch-update"


@pytest.fixture
def owner(app):
    user = make_user(username="shelly")
    return user, make_token(user)


@pytest.mark.parametrize("route", [_wsep, _watch])
def test_outside_gunicorn_the_handshake_gets_501(client, owner, route):
    user, token = owner
    path = route(_workspace(user))
    response = client.get(path, headers={**HANDSHAKE, "Session-Token": token})
    assert response.status_code == 501, response.json
    assert "pycoderd server" in response.json["error"]["msg"]
    response = client.get(path, headers={"Session-Token": token})
    assert response.status_code == 426
    assert response.headers["Upgrade"] == "websocket"
    with db.database.connection_context():
        assert not AuditLog.select().where(AuditLog.action == "connect").exists()


def test_wsep_is_for_the_owner_alone(client, owner):
    user, _ = owner
    path = _wsep(_workspace(user))
    for intruder in ("site-admin", "site-manager", None):
        token = make_token(make_user(*([intruder] if intruder else [])))
        response = client.get(path, headers={**HANDSHAKE, "Session-Token": token})
        assert response.status_code == 404, intruder
        assert response.json["error"]["code"] == "not_found"
    assert client.get(path, headers=HANDSHAKE).status_code == 401
    missing = "/proxy/workspaces/00000000-0000-4000-8000-000000000000/wsep"
    assert client.get(missing, headers={**HANDSHAKE, "Session-Token": owner[1]}).status_code == 404


@pytest.mark.parametrize("status", ["OFF", "CREATING", "FAILED"])
def test_wsep_needs_a_running_workspace(client, owner, status):
    user, token = owner
    workspace = _workspace(user, status=status)
    response = client.get(_wsep(workspace), headers={**HANDSHAKE, "Session-Token": token})
    assert response.status_code == 409
    assert response.json["error"]["msg"].startswith(f'Workspace "{workspace.name}" is {status}')


def test_watch_update_follows_the_workspace_visibility(client, owner):
    user, _ = owner
    path = _watch(_workspace(user))
    stranger = make_token(make_user())
    response = client.get(path, headers={**HANDSHAKE, "Session-Token": stranger})
    assert response.status_code == 404
    manager = make_token(make_user("site-manager"))  # sees every workspace, and its builds
    assert client.get(path, headers={**HANDSHAKE, "Session-Token": manager}).status_code == 501


@pytest.mark.parametrize("route", [_wsep, _watch])
def test_a_cookie_handshake_must_come_from_our_own_origin(make_app, owner, route):
    app = make_app(CODER_ACCESS_URL="https://coder.example.com")
    client = app.test_client()
    user, token = owner
    path = route(_workspace(user))
    client.set_cookie("coder_session_token", token)
    for origin in ("http://evil.example", "https://dev--shelly.coder.example.com"):
        response = client.get(path, headers={**HANDSHAKE, "Origin": origin})
        assert response.status_code == 403, origin
        assert "origin" in response.json["error"]["details"]
    for origin in ("https://coder.example.com", "http://localhost"):  # access URL, own host
        response = client.get(path, headers={**HANDSHAKE, "Origin": origin})
        assert response.status_code == 501, origin
    # Tokens sent by header are no browser's doing.
    client.delete_cookie("coder_session_token")
    response = client.get(
        path, headers={**HANDSHAKE, "Origin": "http://evil.example", "Session-Token": token}
    )
    assert response.status_code == 501
