"""wsep spoken byte for byte (as cdr/wsep's Go client frames it) to a real `pycoderd server`,
running commands in a real Podman workspace."""

from __future__ import annotations

import json
import os
from contextlib import ExitStack

import pytest
from websockets.exceptions import ConnectionClosedOK, InvalidStatus
from websockets.sync.client import connect

from app import db
from app.models import AuditLog
from tests.factories import make_token, make_user

MAX_MESSAGE = 64_000
STDIN = b'{"type":"stdin"}'
CLOSE_STDIN = b'{"type":"close_stdin"}'


def start_message(command, args=(), stdin=False, tty=False, uid=0, gid=0, env=(), working_dir=""):
    """What the Go client marshals: its struct's fields in order, compact."""
    body = {
        "command": command,
        "args": list(args) or None,
        "stdin": stdin,
        "tty": tty,
        "uid": uid,
        "gid": gid,
        "env": list(env) or None,
        "working_dir": working_dir,
    }
    return json.dumps({"type": "start", "command": body}, separators=(",", ":")).encode()


class Wsep:
    """One wsep connection: start, then stdin/resize out, output and the exit code in."""

    def __init__(self, server, workspace_id: str, token: str):
        self.ws = connect(
            f"{server.ws_url}/proxy/workspaces/{workspace_id}/wsep",
            additional_headers={"Session-Token": token},
            max_size=MAX_MESSAGE,
            open_timeout=30,
        )
        self.out = {"stdout": bytearray(), "stderr": bytearray()}
        self.messages: list[bytes] = []

    def __enter__(self):
        self.ws.__enter__()
        return self

    def __exit__(self, *exc_info):
        self.ws.__exit__(*exc_info)

    def start(self, command, *args, **fields) -> int:
        self.ws.send(start_message(command, args, **fields))
        first = self.ws.recv(timeout=30)
        pid = json.loads(first)["pid"]
        assert first == b'{"type":"pid","pid":%d}' % pid  # exactly, as the first message
        return pid

    def stdin(self, data: bytes) -> None:
        """Send in the Go client's chunks, taking the output that came meanwhile after each:
        this client's send holds the lock its reader needs, so it must not block on a server
        that is waiting for its output to be read."""
        room = MAX_MESSAGE - len(STDIN) - 1
        for i in range(0, len(data), room):
            self.ws.send(STDIN + b"\n" + data[i : i + room])
            self.drain()

    def drain(self) -> None:
        while True:
            try:
                self._one(timeout=0)
            except TimeoutError:
                return

    def close_stdin(self) -> None:
        self.ws.send(CLOSE_STDIN)

    def resize(self, rows: int, cols: int) -> None:
        self.ws.send(json.dumps({"type": "resize", "rows": rows, "cols": cols}).encode())

    def read_until(self, predicate, timeout: float = 30) -> None:
        while not predicate():
            self._one(timeout)

    def _one(self, timeout: float) -> dict:
        message = self.ws.recv(timeout=timeout)
        assert isinstance(message, bytes) and len(message) <= MAX_MESSAGE
        self.messages.append(message)
        head, _, body = message.partition(b"\n")
        header = json.loads(head)
        if header["type"] in self.out:
            self.out[header["type"]] += body
        return header

    def exit_code(self, timeout: float = 60) -> int:
        """Read to the exit code; the server then closes normally."""
        while (header := self._one(timeout))["type"] != "exit_code":
            assert header["type"] in self.out
        with pytest.raises(ConnectionClosedOK) as closed:
            self.ws.recv(timeout=10)
        assert closed.value.rcvd.code == 1000
        return header["exit_code"]


@pytest.fixture
def wsep(exec_server):
    """Opens wsep connections (workspace id, token); closes them after the test."""
    with ExitStack() as stack:
        yield lambda workspace_id, token: stack.enter_context(
            Wsep(exec_server, workspace_id, token)
        )


def test_commands_run_in_the_workspace(exec_server, wsep):
    owner = make_user(username="runner")
    token = make_token(owner)
    workspace = exec_server.workspace(token, "shell")
    assert workspace["latest_stat"]["container_status"] == "ON", workspace
    workspace_id = workspace["id"]

    # echo and its exit code; stderr apart from stdout.
    session = wsep(workspace_id, token)
    assert session.start("sh", "-c", "echo hi; echo oops >&2; exit 3") > 0
    assert session.exit_code() == 3
    assert session.out == {"stdout": b"hi\n", "stderr": b"oops\n"}
    assert session.messages[-1] == b'{"type":"exit_code","exit_code":3}'

    # 1 MiB of random bytes through cat, unchanged; stdin half-closed ends it.
    data = os.urandom(1024 * 1024)
    session = wsep(workspace_id, token)
    session.start("cat", stdin=True)
    session.stdin(data)
    session.close_stdin()
    assert session.exit_code() == 0
    assert len(session.out["stdout"]) == len(data) and session.out["stdout"] == data
    assert session.out["stderr"] == b""

    # Environment, working directory and user as wsep sends them.
    session = wsep(workspace_id, token)
    session.start(
        "sh",
        "-c",
        'echo "$GREETING"; pwd; id -u; id -g',
        uid=1000,
        gid=1001,
        env=["GREETING=hello there"],
        working_dir="/tmp",
    )
    assert session.exit_code() == 0
    assert session.out["stdout"] == b"hello there\n/tmp\n1000\n1001\n"

    # A TTY, resized by the client.
    session = wsep(workspace_id, token)
    session.start("sh", "-c", "read a; stty size; read b; stty size", stdin=True, tty=True)
    session.resize(30, 100)
    session.stdin(b"a\n")
    session.read_until(lambda: b"30 100" in session.out["stdout"])
    session.resize(50, 132)
    session.stdin(b"b\n")
    session.read_until(lambda: b"50 132" in session.out["stdout"])
    assert session.exit_code() == 0
    assert session.out["stderr"] == b""

    # A command that does not exist: the engine's message on stderr, and 127.
    session = wsep(workspace_id, token)
    session.start("no-such-program")
    assert session.exit_code() == 127
    assert b"no-such-program" in session.out["stderr"]

    # The sessions used the workspace.
    used = exec_server.api("GET", f"/api/v0/workspaces/{workspace_id}", token).json()
    assert used["last_connection_at"] is not None and used["last_opened_at"] is not None

    # Each session is audited as the owner's connect to the workspace.
    with db.database.connection_context():
        entries = list(AuditLog.select().where(AuditLog.action == "connect"))
    assert len(entries) == 5
    assert {(e.user_id, e.resource_id, e.resource_type, e.status_code) for e in entries} == {
        (owner.id, workspace_id, "environment", 101)
    }


def test_a_client_that_leaves_ends_its_command(exec_server, wsep):
    owner = make_user(username="leaver")
    token = make_token(owner)
    workspace_id = exec_server.workspace(token, "leave")["id"]
    session = wsep(workspace_id, token)
    session.start("sh", "-c", "echo started; exec sleep 1234")
    session.read_until(lambda: session.out["stdout"] == b"started\n")
    session.ws.close()

    probe = wsep(workspace_id, token)
    probe.start(
        "sh",
        "-c",
        "for i in $(seq 50); do ps -o args | grep -q '^sleep 1234' || exit 0; sleep 0.1; done; "
        "exit 1",
    )
    assert probe.exit_code() == 0, "the command outlived its client"


def test_only_the_owner_runs_commands_in_a_running_workspace(exec_server, wsep):
    owner = make_user(username="owner")
    token = make_token(owner)
    workspace_id = exec_server.workspace(token, "mine")["id"]
    admin_token = make_token(make_user("site-admin", username="admin"))
    other_token = make_token(make_user(username="other"))

    for refused in (admin_token, other_token):
        with pytest.raises(InvalidStatus) as caught:
            wsep(workspace_id, refused)
        assert caught.value.response.status_code == 404
    with pytest.raises(InvalidStatus) as caught:
        wsep(workspace_id, "")
    assert caught.value.response.status_code == 401

    response = exec_server.api("PUT", f"/api/v0/workspaces/{workspace_id}/stop", token)
    assert response.status_code == 200
    assert exec_server.wait_built(token, workspace_id)["latest_stat"]["container_status"] == "OFF"
    with pytest.raises(InvalidStatus) as caught:
        wsep(workspace_id, token)
    response = caught.value.response
    assert response.status_code == 409
    assert "is OFF" in json.loads(response.body)["error"]["msg"]
    with db.database.connection_context():
        assert not AuditLog.select().where(AuditLog.action == "connect").exists()
