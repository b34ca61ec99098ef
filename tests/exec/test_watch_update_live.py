"""watch-update against a real `pycoderd server` building real Podman workspaces."""

from __future__ import annotations

import json

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tests.factories import make_token, make_user

FIELDS = {"id", "workspace_id", "build_id", "time", "type", "msg"}


def watch(server, workspace_id: str, token: str, how: str = "header"):
    url = f"{server.ws_url}/api/private/workspaces/{workspace_id}/watch-update"
    if how == "query":
        return connect(f"{url}?coder_session_token={token}", open_timeout=30)
    return connect(url, additional_headers={"Session-Token": token}, open_timeout=30)


def read_all(ws, timeout: float = 120) -> tuple[list[dict], object]:
    """Every message until the server closes; (messages, the close frame received)."""
    lines = []
    while True:
        try:
            message = ws.recv(timeout=timeout)
        except ConnectionClosed as closed:
            return lines, closed.rcvd
        assert isinstance(message, str)  # text messages, one log line each
        lines.append(json.loads(message))


def test_a_finished_build_replays_and_a_running_one_streams(exec_server):
    owner = make_user(username="watcher")
    token = make_token(owner)
    first = exec_server.workspace(token, "watched")
    assert first["latest_stat"]["container_status"] == "ON"

    # Finished: its whole log, through done, then a normal close.
    with watch(exec_server, first["id"], token) as ws:
        lines, close = read_all(ws)
    assert close.code == 1000
    assert lines[0]["type"] == "start" and lines[-1]["type"] == "done"
    middle = {line["type"] for line in lines[1:-1]}
    assert middle and middle <= {"stage", "substage"}
    assert all(set(line) == FIELDS and line["workspace_id"] == first["id"] for line in lines)
    assert len({line["build_id"] for line in lines}) == 1
    first_build = lines[0]["build_id"]

    # Running: a rebuild asked for just before connecting streams as the daemon works.
    response = exec_server.api("PATCH", f"/api/v0/workspaces/{first['id']}", token, json={})
    assert response.status_code == 200, response.text
    with watch(exec_server, first["id"], token, how="query") as ws:
        building = exec_server.api("GET", f"/api/v0/workspaces/{first['id']}", token).json()
        assert building["updating"] is True  # not finished when watching began
        lines, close = read_all(ws)
    assert close.code == 1000
    assert lines[0]["type"] == "start" and lines[-1]["type"] == "done"
    assert {line["build_id"] for line in lines} != {first_build}
    assert len({line["build_id"] for line in lines}) == 1
    assert exec_server.wait_built(token, first["id"])["latest_stat"]["container_status"] == "ON"


def test_a_failed_build_ends_with_its_error_and_strangers_see_nothing(exec_server):
    owner = make_user(username="failer")
    token = make_token(owner)
    failed = exec_server.workspace(token, "broken", tag="no-such-tag")
    assert failed["latest_stat"]["container_status"] == "FAILED"
    with watch(exec_server, failed["id"], token) as ws:
        lines, close = read_all(ws)
    assert lines[0]["type"] == "start" and lines[-1]["type"] == "error"
    assert close.code == 1011 and "no-such-tag" in close.reason

    stranger = make_token(make_user(username="stranger"))
    with pytest.raises(InvalidStatus) as caught:
        watch(exec_server, failed["id"], stranger)
    assert caught.value.response.status_code == 404
