"""Debian's OpenSSH client against the gateway of a real `pycoderd server` and a real Podman
workspace (host network): logins, refusals, port forwarding, the host key across restarts."""

from __future__ import annotations

import os
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from app import db
from app.models import AuditLog, SSHHostKey, Workspace
from app.services import users as users_service
from app.services import workspaces as workspaces_service
from app.services.context import Caller
from tests.factories import make_token, make_user
from tests.support import live_server, ssh
from tests.support.podman import wait_for
from tests.support.workspaces import listening, reload

SECRET = "test-secret-key-not-for-production"  # the tests' app and the server share it


@dataclass
class Gateway:
    server: live_server.LiveServer
    port: int
    tmp_path: Path

    def client(self, name: str = "client") -> ssh.Client:
        with db.database.connection_context():
            host_key = SSHHostKey.get().public_key
        return ssh.Client(self.tmp_path / name, self.port, host_key)

    def private_key(self, token: str, name: str) -> Path:
        """The user's key pair as `coder config-ssh` gets it: GET /api/v0/users/me/sshkey."""
        answer = requests.get(
            f"{self.server.url}/api/v0/users/me/sshkey",
            headers={"Session-Token": token},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        return ssh.write_key(self.tmp_path / name, answer.json()["private_key"])


def start_server(tmp_path, pg_database, port: int, **env) -> live_server.LiveServer:
    env = {
        "CODER_SQLITE_PATH": str(tmp_path / "pycoderd.sqlite3"),
        "CODER_SECRET_KEY": SECRET,
        "CODER_WORKSPACE_NETWORK": "host",
        "CODER_SSH_ADDRESS": f"127.0.0.1:{port}",
        **env,
    }
    if pg_database:
        env["CODER_PG_CONNECTION_URL"] = pg_database
    server = live_server.start(tmp_path, env)
    try:
        assert ssh.wait_for_banner("127.0.0.1", port).startswith("SSH-2.0-pycoderd")
    except BaseException:
        live_server.stop(server)
        raise
    return server


@pytest.fixture
def gateway(app, tmp_path, pg_database):
    """pycoderd server with the SSH gateway on a free loopback port, on the test's database."""
    ssh.require_client()
    port = live_server.free_port()
    server = start_server(tmp_path, pg_database, port)
    yield Gateway(server, port, tmp_path)
    live_server.stop(server)


@pytest.fixture
def running(running_workspace, tmp_path, pg_database, podman_env):
    """The gateway in front of an ON workspace `web` of user `wsowner` (Podman, host network,
    serving HTTP on `running_workspace.port`)."""
    ssh.require_client()
    port = live_server.free_port()
    server = start_server(tmp_path, pg_database, port, CODER_DOCKER_HOST=podman_env.docker_host)
    yield running_workspace, Gateway(server, port, tmp_path)
    live_server.stop(server)


def http_get_over(client, login, key, port: int) -> subprocess.CompletedProcess:
    """`ssh -W localhost:PORT` (a direct-tcpip channel on stdio) carrying one HTTP request."""
    return client.run(
        login,
        key,
        options=("-o", "LogLevel=INFO", "-W", f"localhost:{port}"),
        input=b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n",
    )


def test_port_forwarding_and_who_is_refused(running):
    workspace, gateway = running
    client = gateway.client()
    key = gateway.private_key(workspace.token, "owner_key")
    login = "wsowner-web"

    # ssh -W: one forwarded connection on stdio, to the workspace's own port.
    answer = http_get_over(client, login, key, workspace.port)
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.startswith(b"HTTP/1.") and answer.stdout.endswith(workspace.body.encode())
    # Anything but the workspace itself is refused.
    elsewhere = client.run(
        login, key, options=("-o", "LogLevel=INFO", "-W", f"127.0.0.2:{workspace.port}")
    )
    assert elsewhere.returncode == 255
    assert b"administratively prohibited" in elsewhere.stderr
    assert b"Only the workspace's own ports" in elsewhere.stderr

    # ssh -N -L, as editors' remote modes use it: a local port leads to the workspace's app.
    local = live_server.free_port()
    tunnel = client.start(
        login, key, options=("-N", "-L", f"127.0.0.1:{local}:localhost:{workspace.port}")
    )
    try:
        wait_for(lambda: listening(local), 30, "the forwarded port")
        for _ in range(3):
            page = requests.get(f"http://127.0.0.1:{local}/", timeout=30)
            assert page.status_code == 200 and page.text == workspace.body
    finally:
        tunnel.terminate()
        tunnel.wait(10)

    # The connection is audited and marks the workspace used.
    with db.database.connection_context():
        entries = list(AuditLog.select().where(AuditLog.action == "connect"))
        assert {(e.username, e.resource_target) for e in entries} == {("wsowner", "web")}
        assert all(e.user_agent.startswith("SSH-2.0-OpenSSH") for e in entries)
        assert Workspace.get_by_id(workspace.workspace_id).last_connection_at is not None

    # Another user's key, an unknown workspace, a wrong name: refused at login.
    bob = make_user(username="bob")
    bob_key = gateway.private_key(make_token(bob), "bob_key")
    for name, with_key in (("wsowner-web", bob_key), ("wsowner-nope", key), ("bob-web", bob_key)):
        refused = http_get_over(client, name, with_key, workspace.port)
        assert refused.returncode == 255, name
        assert b"Permission denied (publickey)" in refused.stderr, (name, refused.stderr)

    # A suspended user is refused; reactivated, they get in again.
    admin = make_user("site-admin", username="admin")
    with db.database.connection_context():
        users_service.update(Caller(user=admin), workspace.owner, {"status": "suspended"})
    suspended = http_get_over(client, login, key, workspace.port)
    assert suspended.returncode == 255 and b"Permission denied" in suspended.stderr
    with db.database.connection_context():
        users_service.update(Caller(user=admin), workspace.owner, {"status": "active"})
    assert http_get_over(client, login, key, workspace.port).returncode == 0

    # A stopped workspace: the key still logs in, but nothing opens, and ssh says why.
    with db.database.connection_context():
        workspaces_service.stop(Caller(user=workspace.owner), workspace.workspace_id)
    wait_for(lambda: reload(workspace.workspace_id).container_status == "OFF", 60, "the stop")
    stopped = http_get_over(client, login, key, workspace.port)
    assert stopped.returncode == 255
    assert b'The workspace "web" is not running (OFF)' in stopped.stderr, stopped.stderr


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        found.extend(int(c) for c in children)
        todo.extend(int(c) for c in children)
    return found


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _listening_inode(port: int) -> str:
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == "0A":  # LISTEN
            return fields[9]
    return ""


def _holders(pids, inode: str) -> list[int]:
    holders = []
    for pid in pids:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        if any(_readlink(fd) == f"socket:[{inode}]" for fd in fds):
            holders.append(pid)
    return holders


def _readlink(path: Path) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return ""


def test_one_gateway_process_whose_host_key_survives_restarts(app, tmp_path, pg_database):
    ssh.require_client()
    port = live_server.free_port()
    server = start_server(tmp_path, pg_database, port, CODER_GUNICORN_WORKERS="2")
    try:
        shown = ssh.keyscan("127.0.0.1", port)
        with db.database.connection_context():
            assert shown == SSHHostKey.get().public_key
        assert "SSH gateway listening on 127.0.0.1:" in (tmp_path / "server.out").read_text()
        # One process serves SSH, whatever the number of workers, and only it holds the socket.
        children = _descendants(server.process.pid)
        gateways = [pid for pid in children if b"app.ssh.runner" in _cmdline(pid)]
        assert len(gateways) == 1, [_cmdline(pid) for pid in children]
        assert len(live_server.worker_pids(server)) == 2
        assert _holders([server.process.pid, *children], _listening_inode(port)) == gateways
    finally:
        live_server.stop(server)
    # SIGTERM stopped it: nothing is left, the port is free.
    assert all(not Path(f"/proc/{pid}").exists() for pid in children)
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # only a listener blocks it
        sock.bind(("127.0.0.1", port))

    server = start_server(tmp_path, pg_database, port)
    try:
        assert ssh.keyscan("127.0.0.1", port) == shown
    finally:
        live_server.stop(server)


def test_a_taken_address_stops_the_server_with_one_line(app, tmp_path, pg_database):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(RuntimeError) as failed:
            start_server(tmp_path, pg_database, port)
    assert f"pycoderd: CODER_SSH_ADDRESS: cannot listen on 127.0.0.1:{port}" in str(failed.value)
