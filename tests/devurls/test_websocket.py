"""WebSockets through the dev URL proxy inside a real `pycoderd server`, to real upstreams."""

from __future__ import annotations

import json
import os
import socket
import struct
import time
from base64 import b64encode
from contextlib import ExitStack
from pathlib import Path

import pytest
import requests
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK, InvalidStatus
from websockets.sync.client import connect

from app import db, options
from app.models import ProxyTrafficSample
from tests.devurls.conftest import dev_host, live_proxy, make_devurl, make_workspace
from tests.devurls.ws_upstream import (
    MAX_MESSAGE,
    EarlyUpstream,
    WebSocketUpstream,
    self_signed_context,
)
from tests.factories import make_token, make_user
from tests.support import live_server

IDLE_SECONDS = 2
LIMIT = 2
MB = 1024 * 1024


def _serve(tmp_path, pg_database, idle: str):
    """pycoderd server on the test's database, with LIMIT WebSockets per worker."""
    yield from live_proxy(
        tmp_path,
        pg_database,
        CODER_DEVURL_PROXY_TIMEOUT="2s",
        CODER_DEVURL_WEBSOCKET_IDLE_TIMEOUT=idle,
        CODER_DEVURL_WEBSOCKET_LIMIT=str(LIMIT),
    )


@pytest.fixture
def server(app, tmp_path, pg_database):
    """Idle WebSockets are closed after IDLE_SECONDS."""
    yield from _serve(tmp_path, pg_database, f"{IDLE_SECONDS}s")


@pytest.fixture
def patient_server(app, tmp_path, pg_database):
    """Idle WebSockets stay open."""
    yield from _serve(tmp_path, pg_database, "0")


@pytest.fixture
def ws_upstream():
    upstream = WebSocketUpstream()
    yield upstream
    upstream.stop()


@pytest.fixture
def owner(app):
    user = make_user(username="sockets")
    return user, make_token(user)


def _devurl(owner, port: int, access: str, name: str, scheme: str = "http") -> str:
    user, _ = owner
    workspace = make_workspace(user, name=f"{name}box")
    make_devurl(workspace, port, access=access, name=name, scheme=scheme)
    return dev_host(f"{name}--sockets")


def _open(server, host: str, path: str = "/echo", **kwargs):
    """A WebSocket client connected to the server's address, naming the dev URL host."""
    port = int(server.url.rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    return connect(
        f"ws://{host}{path}",
        sock=sock,
        proxy=None,
        compression=None,  # frames on the wire as sent: byte counts stay predictable
        ping_interval=None,  # an idle socket must really be idle
        max_size=MAX_MESSAGE,
        open_timeout=10,
        close_timeout=5,
        **kwargs,
    )


def _refused(server, host: str, path: str = "/echo", **kwargs):
    with pytest.raises(InvalidStatus) as refused:
        _open(server, host, path, **kwargs)
    return refused.value.response


def _worker(server) -> int:
    (pid,) = live_server.worker_pids(server)
    return pid


def _open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _connections(pid: int, *ports: int) -> list[tuple[int, int]]:
    """The worker's TCP connections (local port, remote port) that touch one of `ports`."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
            if inode not in inodes or state == "0A":  # 0A: the listening socket
                continue
            pair = (int(local.rsplit(":", 1)[1], 16), int(remote.rsplit(":", 1)[1], 16))
            if set(pair) & set(ports):
                found.append(pair)
    return found


def _eventually(predicate, what: str, timeout: float = 6.0):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.05)
    return value


def test_echo_round_trip_and_traffic(server, owner, ws_upstream):
    host = _devurl(owner, ws_upstream.port, "PUBLIC", "echo")
    big = os.urandom(MB)
    with _open(server, host, "/echo?room=1", subprotocols=["chat"]) as ws:
        assert ws.subprotocol == "chat"  # the workspace's 101 headers reach the client
        ws.send("héllo, wörld")
        assert ws.recv(timeout=5) == "héllo, wörld"
        ws.send(b"\x00\x01binary\xff")
        assert ws.recv(timeout=5) == b"\x00\x01binary\xff"
        ws.send(big)
        assert ws.recv(timeout=10) == big
        ws.send("headers")
        seen = json.loads(ws.recv(timeout=5))
    assert ws_upstream.ended.get(timeout=5) == "/echo?room=1"

    assert seen["path"] == "/echo?room=1"
    headers = seen["headers"]
    assert headers["host"] == host
    assert headers["upgrade"] == "websocket"
    assert headers["connection"] == "Upgrade"
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["x-forwarded-host"] == host
    assert headers["sec-websocket-protocol"] == "chat"

    # The session is one traffic sample, written with the worker's next batch.
    time.sleep(1.1)
    assert requests.get(f"{server.url}/plain", headers={"Host": host}, timeout=10).ok
    sample = _eventually(
        lambda: _sample_over(MB),
        "a traffic sample for the WebSocket session",
    )
    sent = len("héllo, wörld".encode()) + 9 + MB + len("headers")
    received = sent - len("headers") + len(json.dumps(seen).encode())
    # Frame headers, masks and the closing handshake add a few bytes each way.
    assert sent < sample.rx_bytes < sent + 200
    assert received < sample.tx_bytes < received + 200
    assert sample.latency_ms > 0


def test_a_tls_workspace_port(server, owner, tmp_path):
    """Dev URLs with scheme https reach a self-signed TLS port; the relay copies TLS records."""
    upstream = WebSocketUpstream(self_signed_context(tmp_path))
    try:
        host = _devurl(owner, upstream.port, "PUBLIC", "tls", scheme="https")
        big = os.urandom(4 * MB - 64)
        with _open(server, host) as ws:
            for message in ("over TLS", big, b"small after big"):
                ws.send(message)
                assert ws.recv(timeout=10) == message
        assert upstream.ended.get(timeout=5) == "/echo"
    finally:
        upstream.stop()


def _sample_over(size: int):
    with db.database.connection_context():
        return ProxyTrafficSample.select().where(ProxyTrafficSample.rx_bytes > size).first()


def test_access_is_checked_before_the_upgrade(server, owner, ws_upstream):
    _, token = owner
    host = _devurl(owner, ws_upstream.port, "PRIVATE", "private")

    anonymous = _refused(server, host)
    assert anonymous.status_code == 401
    assert json.loads(anonymous.body)["error"]["code"] == "unauthorized"
    stranger = make_token(make_user(username="stranger"))
    forbidden = _refused(server, host, additional_headers={"Session-Token": stranger})
    assert forbidden.status_code == 403
    assert ws_upstream.requests == []  # nothing reached the workspace

    cookies = f"theme=dark; coder_session_token={token}"
    with _open(
        server,
        host,
        f"/echo?coder_session_token={token}&x=1",
        additional_headers={"Session-Token": token, "Cookie": cookies},
    ) as ws:
        ws.send("headers")
        seen = json.loads(ws.recv(timeout=5))
    assert seen["path"] == "/echo?x=1"
    assert "session-token" not in seen["headers"]
    assert seen["headers"]["cookie"] == "theme=dark"
    assert token not in json.dumps(seen)


def _devurl_cookie(server, host: str, token: str) -> str:
    """Sign in to the dev URL host as a browser does: ticket from the API, cookie from the
    dev URL host."""
    issued = requests.get(
        f"{server.url}/api/v0/devurls/ticket",
        params={"url": f"http://{host}/"},
        headers={"Session-Token": token},
        allow_redirects=False,
        timeout=10,
    )
    assert issued.status_code == 302, issued.text
    redeem = issued.headers["Location"].split(host, 1)[1]
    redeemed = requests.get(
        f"{server.url}{redeem}", headers={"Host": host}, allow_redirects=False, timeout=10
    )
    assert redeemed.status_code == 302, redeemed.text
    return redeemed.headers["Set-Cookie"].split(";", 1)[0]


def test_a_cross_origin_handshake_with_the_dev_url_cookie_is_403(server, owner, ws_upstream):
    """Issue 14 finding 10: a page elsewhere opening the app's WebSocket as its visitor."""
    _, token = owner
    host = _devurl(owner, ws_upstream.port, "PRIVATE", "origin")
    cookie = {"Cookie": _devurl_cookie(server, host, token)}
    for origin in ("http://evil.example", "http://other--sockets.apps.test", "null"):
        refused = _refused(server, host, origin=origin, additional_headers=cookie)
        assert refused.status_code == 403
        assert "own origin" in json.loads(refused.body)["error"]["details"]
    assert ws_upstream.requests == []  # nothing reached the workspace
    session = {"Cookie": f"coder_session_token={token}"}
    foreign = _refused(server, host, origin="http://evil.example", additional_headers=session)
    assert foreign.status_code == 403
    for headers, origin in (
        (cookie, f"http://{host}"),
        (cookie, None),
        (session, f"http://{host}"),
    ):
        with _open(server, host, origin=origin, additional_headers=headers) as ws:
            ws.send("mine")
            assert ws.recv(timeout=5) == "mine"
    # A token in a header is no cookie: no page can make a browser send it.
    with _open(
        server, host, origin="http://tool.example", additional_headers={"Session-Token": token}
    ) as ws:
        ws.send("tool")
        assert ws.recv(timeout=5) == "tool"


def test_a_refused_upgrade_is_relayed_as_an_answer(server, owner, ws_upstream):
    host = _devurl(owner, ws_upstream.port, "PUBLIC", "refuse")
    missing = _refused(server, host, "/missing")
    assert missing.status_code == 404
    assert missing.body == b"no WebSocket here\n"
    plain = _refused(server, host, "/plain")
    assert plain.status_code == 200
    assert plain.body == b"just HTTP\n"
    # And the server goes on serving WebSockets.
    with _open(server, host) as ws:
        ws.send("still here")
        assert ws.recv(timeout=5) == "still here"


def test_nothing_listening_is_502(server, owner, closed_port):
    host = _devurl(owner, closed_port, "PUBLIC", "nobody")
    refused = _refused(server, host)
    assert refused.status_code == 502
    assert json.loads(refused.body)["error"]["code"] == "bad_gateway"


def test_frames_sent_right_behind_the_101_arrive(server, owner):
    early = EarlyUpstream()
    try:
        host = _devurl(owner, early.port, "PUBLIC", "early")
        with _open(server, host) as ws:
            assert ws.recv(timeout=5) == "early"
    finally:
        early.stop()


def _raw_upgrade(server, host: str) -> socket.socket:
    """A handshake by hand, for closing the TCP connection without a WebSocket close."""
    port = int(server.url.rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET /echo HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(4096)
    assert head.startswith(b"HTTP/1.1 101 "), head
    return sock


def test_either_side_closing_ends_both_without_leaks(server, owner, ws_upstream):
    host = _devurl(owner, ws_upstream.port, "PUBLIC", "closing")
    server_port = int(server.url.rsplit(":", 1)[1])
    worker = _worker(server)

    def held():
        return _connections(worker, server_port, ws_upstream.port)

    # Warm up: the worker's lazily opened files (database, pool threads) exist from here on.
    for _ in range(2):
        with _open(server, host) as first, _open(server, host) as second:
            first.send("a")
            second.send("b")
            assert (first.recv(timeout=5), second.recv(timeout=5)) == ("a", "b")
        ws_upstream.ended.get(timeout=5)
        ws_upstream.ended.get(timeout=5)
    _eventually(lambda: not held(), "the warm-up connections to close")
    baseline = _open_fds(worker)

    # The client closes (closing handshake): the workspace's end closes too.
    with _open(server, host) as ws:
        ws.send("x")
        assert ws.recv(timeout=5) == "x"
    assert ws_upstream.ended.get(timeout=5) == "/echo"

    # The workspace closes: the client sees the close it sent.
    with _open(server, host) as ws:
        ws.send("bye")
        with pytest.raises(ConnectionClosedOK):
            ws.recv(timeout=5)
    assert ws.close_code == 1000 and ws.close_reason == "bye"
    assert ws_upstream.ended.get(timeout=5) == "/echo"

    # The client vanishes (TCP reset, no WebSocket close): the workspace's end closes too.
    raw = _raw_upgrade(server, host)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    raw.close()
    assert ws_upstream.ended.get(timeout=5) == "/echo"

    _eventually(lambda: not held(), "the worker to let go of every connection")
    _eventually(lambda: _open_fds(worker) <= baseline, f"open fds back to {baseline}")

    # Per-worker cap: LIMIT at once, the next one is told so; a closed one frees its slot.
    with ExitStack() as stack:
        for _ in range(LIMIT - 1):
            stack.enter_context(_open(server, host))
        with _open(server, host):
            over = _refused(server, host)
        assert over.status_code == 503
        error = json.loads(over.body)["error"]
        assert error["code"] == "unavailable"
        assert "CODER_DEVURL_WEBSOCKET_LIMIT" in error["details"]
        ws_upstream.ended.get(timeout=5)
        ws = stack.enter_context(_eventually(lambda: _open_or_none(server, host), "a free slot"))
        ws.send("ok")
        assert ws.recv(timeout=5) == "ok"


def _open_or_none(server, host):
    try:
        return _open(server, host)
    except InvalidStatus as refused:
        assert refused.response.status_code == 503
        return None


def test_idle_websockets_are_closed(server, owner, ws_upstream):
    host = _devurl(owner, ws_upstream.port, "PUBLIC", "idle")
    with _open(server, host) as ws:
        ws.send("awake")
        assert ws.recv(timeout=5) == "awake"
        quiet_since = time.monotonic()
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=IDLE_SECONDS + 5)
        waited = time.monotonic() - quiet_since
    assert IDLE_SECONDS - 0.1 <= waited < IDLE_SECONDS + 2
    assert ws_upstream.ended.get(timeout=5) == "/echo"


def test_stopping_the_server_ends_open_websockets(patient_server, owner, ws_upstream):
    host = _devurl(owner, ws_upstream.port, "PUBLIC", "stop")
    with _open(patient_server, host) as ws:
        ws.send("hi")
        assert ws.recv(timeout=5) == "hi"
        time.sleep(IDLE_SECONDS + 1)  # idle, but no timeout closes it here
        ws.send("still open")
        assert ws.recv(timeout=5) == "still open"
        started = time.monotonic()
        live_server.stop(patient_server)
        # Without the relay noticing, gunicorn would wait out its 10 s graceful timeout.
        assert time.monotonic() - started < 6
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
    assert ws_upstream.ended.get(timeout=5) == "/echo"


# --- without gunicorn -------------------------------------------------------------------------


UPGRADE = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13"}


def test_outside_gunicorn_the_upgrade_is_501(client, owner, upstream):
    host = _devurl(owner, upstream.port, "PUBLIC", "testclient")
    answer = client.get("/", base_url=f"http://{host}", headers=UPGRADE)
    assert answer.status_code == 501
    assert answer.json["error"]["code"] == "not_implemented"
    assert "pycoderd server" in answer.json["error"]["details"]

    private = _devurl(owner, upstream.port, "PRIVATE", "testprivate")
    assert client.get("/", base_url=f"http://{private}", headers=UPGRADE).status_code == 401


def test_other_upgrades_are_proxied_as_plain_requests(client, owner, upstream):
    host = _devurl(owner, upstream.port, "PUBLIC", "h2c")
    answer = client.get(
        "/", base_url=f"http://{host}", headers={"Connection": "Upgrade", "Upgrade": "h2c"}
    )
    assert answer.status_code == 200
    assert "upgrade" not in answer.json["headers"]


@pytest.mark.parametrize(
    ("env", "value"),
    [("CODER_DEVURL_WEBSOCKET_LIMIT", "-1"), ("CODER_DEVURL_WEBSOCKET_IDLE_TIMEOUT", "-1s")],
)
def test_negative_settings_are_refused(make_app, env, value):
    with pytest.raises(options.OptionError, match=env):
        make_app(**{env: value})


@pytest.fixture
def roomy_server(app, tmp_path, pg_database):
    """As many WebSockets per worker as a worker once had threads in all."""
    yield from live_proxy(
        tmp_path,
        pg_database,
        CODER_DEVURL_WEBSOCKET_IDLE_TIMEOUT="0",
        CODER_DEVURL_WEBSOCKET_LIMIT="8",
    )


def test_open_websockets_leave_the_api_its_threads(roomy_server, owner, ws_upstream):
    host = _devurl(owner, ws_upstream.port, "PUBLIC", "roomy")
    with ExitStack() as stack:
        for n in range(8):
            ws = stack.enter_context(_open(roomy_server, host))
            ws.send(f"m{n}")
            assert ws.recv(timeout=5) == f"m{n}"
        for path in ("/healthz", "/api/v2/buildinfo"):
            assert requests.get(roomy_server.url + path, timeout=5).status_code == 200
