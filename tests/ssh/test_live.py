"""Debian's OpenSSH client against the gateway of a real `pycoderd server` and a real Podman
workspace (host network): logins, refusals, port forwarding, the host key across restarts."""

from __future__ import annotations

import asyncio
import os
import select
import socket
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

import asyncssh
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


def test_forwarding_ends_when_the_workspace_closes_first(running):
    """ssh -W to a port whose app answers and closes before the client's input ends (a
    server-first protocol, or an HTTP/1.0 answer on a loaded machine): ssh exits once its input
    ends. The gateway used to send only EOF then, and OpenSSH waited for its close for ever."""
    workspace, gateway = running
    client = gateway.client()
    key = gateway.private_key(workspace.token, "owner_key")
    with socket.create_server(("127.0.0.1", 0)) as listener:  # host network: the workspace's
        port = listener.getsockname()[1]

        def answer_and_close():
            connection, _ = listener.accept()
            connection.sendall(b"hello\n")
            connection.close()

        threading.Thread(target=answer_and_close, daemon=True).start()
        forwarded = client.start(
            "wsowner-web",
            key,
            options=("-W", f"localhost:{port}"),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            greeted, _, _ = select.select([forwarded.stdout], [], [], 60)
            assert greeted, "what the app sent before the channel was open never arrived"
            assert forwarded.stdout.readline() == b"hello\n"  # answered and closed: EOF first
            forwarded.stdin.close()  # the client's EOF second
            assert forwarded.wait(30) == 0, forwarded.stderr.read()
        finally:
            if forwarded.poll() is None:
                forwarded.kill()
                forwarded.wait(10)


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
        # The start banner goes through the configured log (CODER_LOGGING_HUMAN: server.log).
        banner = (tmp_path / "server.out").read_text() + (tmp_path / "server.log").read_text()
        assert "SSH gateway listening on 127.0.0.1:" in banner
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


def test_commands_shells_and_binary_stdio(running):
    workspace, gateway = running
    client = gateway.client()
    key = gateway.private_key(workspace.token, "owner_key")
    login = "wsowner-web"

    # A command: its stdout, its stderr apart, its exit status as ssh's own.
    done = client.run(login, key, "echo out; echo err >&2; exit 3")
    assert (done.returncode, done.stdout, done.stderr) == (3, b"out\n", b"err\n")
    # The command line reaches the shell as one string, quoting included.
    quoted = client.run(login, key, "printf '%s|' \"a b\" 'c d'")
    assert quoted.stdout == b"a b|c d|"
    # It runs in the workspace's container: its home, its hostname.
    where = client.run(login, key, "pwd; hostname")
    assert where.stdout.decode().split() == ["/home/wsowner", "web"]

    # 1 MiB of random bytes through cat, unchanged, both ways.
    data = os.urandom(1024 * 1024)
    echoed = client.run(login, key, "cat", input=data)
    assert echoed.returncode == 0, echoed.stderr
    assert len(echoed.stdout) == len(data) and echoed.stdout == data
    # ... and into a file and back out, as `coder sync` (rsync -e "coder sh") moves files.
    stored = client.run(login, key, "cat > /tmp/blob && wc -c < /tmp/blob", input=data)
    assert stored.stdout.strip() == str(len(data)).encode()
    assert client.run(login, key, "cat /tmp/blob").stdout == data

    # Environment: what SendEnv/SetEnv brings, but only the accepted names.
    env = client.run(
        login,
        key,
        'echo "$LANG|$LC_TIME|$SECRET_THING|$PATH"',
        options=("-o", "SetEnv=LANG=C.UTF-8 LC_TIME=en_GB.UTF-8 SECRET_THING=1 PATH=/nowhere"),
    )
    lang, lc_time, secret, path = env.stdout.decode().strip().split("|")
    assert (lang, lc_time, secret) == ("C.UTF-8", "en_GB.UTF-8", "")
    assert path != "/nowhere"

    # ssh -tt: a terminal, and TERM from the client's pty request.
    tty = client.run(login, key, "-tt", "tty; echo $TERM", env={"TERM": "vt220"})
    lines = tty.stdout.decode().replace("\r", "").split("\n")
    assert lines[0].startswith("/dev/pts/") and lines[1] == "vt220", tty.stdout
    without = client.run(login, key, "tty")
    assert (without.returncode, without.stdout) == (1, b"not a tty\n")

    # A subsystem the workspace cannot serve says so.
    sftp = client.run(login, key, "-s", "sftp")
    assert sftp.returncode == 127 and b"no sftp-server" in sftp.stderr

    # `coder config-ssh`'s block (cdr/coder-cli), with a Port for this test's gateway.
    config = gateway.tmp_path / "ssh_config"
    config.write_text(
        f"Host coder.*\n   Port {gateway.port}\n\n"
        "Host coder.web\n   HostName 127.0.0.1\n   User wsowner-web\n"
        "   StrictHostKeyChecking no\n   ConnectTimeout=0\n   IdentitiesOnly yes\n"
        f'   IdentityFile="{key}"\n'
    )
    configured = subprocess.run(
        [
            ssh.SSH,
            "-F",
            str(config),
            "-o",
            f"UserKnownHostsFile={client.known_hosts}",
            "-o",
            "BatchMode=yes",
            "coder.web",
            "echo",
            "configured",
        ],
        capture_output=True,
        timeout=60,
        env=client.env(),
    )
    assert configured.stdout == b"configured\n", configured.stderr


def test_a_terminal_follows_window_changes(running, tmp_path):
    """An interactive shell in a real terminal (tmux): its size, a window change, its exit."""
    ssh.require_client("tmux")
    workspace, gateway = running
    client = gateway.client()
    key = gateway.private_key(workspace.token, "owner_key")
    terminal = ssh.Terminal(tmp_path / "tmux.sock", client.env())
    try:
        terminal.open(client.argv("wsowner-web", key), cols=100, rows=30)
        terminal.type("stty size")
        terminal.wait_for("30 100")
        terminal.resize(cols=120, rows=40)
        # Podman applies a resize a moment after its API answers: ask until the size shows.
        terminal.wait_for("40 120", retype="stty size")
        terminal.type("exit 7")
        assert terminal.exit_status() == 7
    finally:
        terminal.close()


def test_a_client_that_goes_away_hangs_up_its_process(running):
    workspace, gateway = running
    client = gateway.client()
    key = gateway.private_key(workspace.token, "owner_key")
    login = "wsowner-web"
    script = "trap 'echo hup > /tmp/hup; exit 0' HUP; echo ready; while :; do sleep 1; done"
    session = client.start(login, key, script, stdout=subprocess.PIPE)
    try:
        assert session.stdout.readline() == b"ready\n"
    finally:
        session.kill()  # no goodbye: the gateway sees the connection drop
        session.wait(10)
        session.stdout.close()
    wait_for(lambda: client.run(login, key, "cat /tmp/hup").stdout == b"hup\n", 30, "the hang-up")
    left = client.run(login, key, "ps -o args | grep -c '[e]cho ready'")
    assert left.stdout.strip() == b"0"


def test_signals_from_the_client_and_exit_signals(running):
    """OpenSSH's client sends no signals; asyncssh's does (RFC 4254 6.9 and 6.10)."""
    workspace, gateway = running
    key = gateway.private_key(workspace.token, "owner_key")

    async def scenario():
        async with asyncssh.connect(
            "127.0.0.1",
            gateway.port,
            username="wsowner-web",
            client_keys=[str(key)],
            known_hosts=str(gateway.client().known_hosts),
        ) as connection:
            process = await connection.create_process("echo started; sleep 60")
            assert await process.stdout.readline() == "started\n"
            process.send_signal("TERM")
            result = await asyncio.wait_for(process.wait(), 30)
            return result.exit_status, result.exit_signal

    status, exit_signal = asyncio.run(scenario())
    assert exit_signal is not None and exit_signal[0] == "TERM", (status, exit_signal)
