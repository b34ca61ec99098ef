"""Issue 14 finding 2: a response reaches only the request it answers.

A keep-alive HTTP/1.1 app that does not read GET bodies takes a GET's body for the next request.
An anonymous visitor who sends `GET` with `Content-Length` and a second request as its body
leaves a second response waiting on the upstream connection; had the proxy pooled it, the next
visitor (the signed-in owner) would receive it and the attacker then the owner's page.
"""

from __future__ import annotations

import json
import socket
import threading

import pytest
import requests

from tests.devurls.conftest import dev_host, live_proxy, make_devurl, make_workspace
from tests.factories import auth_headers, make_token, make_user


class BodyIgnoringApp:
    """Keep-alive HTTP/1.1 on loopback that never reads GET bodies: whatever follows a GET's
    head is parsed as the next request. Each answer names its path and the app's own cookie."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn):
        try:
            self._answer(conn)
        except (OSError, ValueError):
            conn.close()  # a proxy hanging up mid-request

    def _answer(self, conn):
        with conn, conn.makefile("rb") as reader:
            while True:
                line = reader.readline()
                if not line:
                    return
                method, path, _ = line.decode("latin-1").split(" ", 2)
                headers = {}
                while (line := reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = line.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                if method != "GET":
                    reader.read(int(headers.get("content-length") or 0))
                who = "nobody"
                for cookie in headers.get("cookie", "").split(";"):
                    name, _, value = cookie.strip().partition("=")
                    if name == "app_user":
                        who = value
                body = json.dumps({"path": path, "who": who}).encode()
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                )
                if headers.get("connection", "").lower() == "close":
                    return

    def stop(self):
        self.sock.close()


@pytest.fixture
def app_upstream():
    upstream = BodyIgnoringApp()
    yield upstream
    upstream.stop()


@pytest.fixture
def server(app, tmp_path, pg_database):
    yield from live_proxy(tmp_path, pg_database, CODER_DEVURL_PROXY_TIMEOUT="3s")


@pytest.fixture
def site(app, app_upstream):
    owner = make_user(username="victim")
    workspace = make_workspace(owner, name="shop")
    make_devurl(workspace, app_upstream.port, access="PUBLIC", name="shop")
    return dev_host("shop--victim"), make_token(owner)


SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: shop--victim.apps.test\r\n\r\n"


def _smuggle(server, host, headers=None):
    """GET with Content-Length whose body is a second request."""
    response = requests.get(
        f"{server.url}/", data=SMUGGLED, headers={"Host": host, **(headers or {})}, timeout=10
    )
    assert response.status_code == 200
    return response.json()


def _owner_visit(server, host, token, path):
    response = requests.get(
        f"{server.url}{path}",
        headers={"Host": host, "Cookie": "app_user=owner", **auth_headers(token)},
        timeout=10,
    )
    assert response.status_code == 200
    return response.json()


def test_an_anonymous_get_body_cannot_poison_the_owners_connection(server, site):
    host, token = site
    for round_ in range(3):
        attacker = _smuggle(server, host)
        assert attacker == {"path": "/", "who": "nobody"}
        owner = _owner_visit(server, host, token, f"/private/{round_}")
        assert owner == {"path": f"/private/{round_}", "who": "owner"}
        again = requests.get(f"{server.url}/next", headers={"Host": host}, timeout=10).json()
        assert again == {"path": "/next", "who": "nobody"}, "the attacker got another's page"


def test_a_connection_left_unclean_is_never_reused(server, site):
    """The same visitor smuggling into their own pool still gets only their own answers."""
    host, token = site
    cookie = {"Cookie": "app_user=owner", **auth_headers(token)}
    for round_ in range(3):
        assert _smuggle(server, host, cookie) == {"path": "/", "who": "owner"}
        assert _owner_visit(server, host, token, f"/mine/{round_}") == {
            "path": f"/mine/{round_}",
            "who": "owner",
        }


def test_a_signed_in_visitors_connection_is_kept_for_them_only(server, site, app_upstream):
    host, token = site
    for n in range(4):
        assert _owner_visit(server, host, token, f"/{n}")["path"] == f"/{n}"
    kept = app_upstream.connections
    assert kept == 1  # the owner's requests share one kept-alive connection
    other = make_token(make_user(username="someone"))
    visited = requests.get(
        f"{server.url}/theirs", headers={"Host": host, **auth_headers(other)}, timeout=10
    )
    assert visited.json() == {"path": "/theirs", "who": "nobody"}
    assert app_upstream.connections == kept + 1  # another visitor: another connection
