"""The proxy's HTTP/1.1 client against a scripted upstream: framing, keep-alive, bad answers."""

from __future__ import annotations

import socket
import threading

import pytest

from tests.devurls.conftest import dev_host, make_devurl, make_workspace
from tests.factories import auth_headers, make_token, make_user


class ScriptedUpstream:
    """Answers each request with the next scripted bytes; counts connections and requests.

    A script entry of None closes the connection instead of answering (a dropped keep-alive).
    """

    def __init__(self, *answers: bytes | None):
        self.answers = list(answers)
        self.connections = 0
        self.requests: list[bytes] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
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
        with conn, conn.makefile("rb") as reader:
            while self.answers:
                head = b""
                while not head.endswith(b"\r\n\r\n"):
                    line = reader.readline()
                    if not line:
                        return
                    head += line
                self.requests.append(head)
                answer = self.answers.pop(0)
                if answer is None:
                    return
                conn.sendall(answer)

    def stop(self):
        self.sock.close()


@pytest.fixture
def scripted(app):
    servers = []

    def start(*answers):
        server = ScriptedUpstream(*answers)
        servers.append(server)
        owner = make_user()
        workspace = make_workspace(owner)
        make_devurl(workspace, server.port, access="PUBLIC", name="s")
        server.host = dev_host(f"s--{owner.username}")
        # Connections are kept per visitor: anonymous requests are never pooled.
        server.visitor = auth_headers(make_token(owner))
        return server

    yield start
    for server in servers:
        server.stop()


def _get(client, server, method="GET", anonymous=False, **kwargs):
    headers = {} if anonymous else server.visitor
    return client.open(
        "/x",
        method=method,
        base_url=f"http://{server.host}",
        buffered=True,
        headers=headers,
        **kwargs,
    )


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


def test_kept_alive_connection_is_reused(client, scripted):
    server = scripted(*[OK] * 5)
    for _ in range(5):
        response = _get(client, server)
        assert response.status_code == 200 and response.data == b"ok"
    assert server.connections == 1
    assert len(server.requests) == 5


def test_anonymous_requests_are_never_pooled(client, scripted):
    server = scripted(*[OK] * 3)
    for _ in range(3):
        assert _get(client, server, anonymous=True).data == b"ok"
    assert server.connections == 3
    assert all(b"\r\nConnection: close\r\n" in head for head in server.requests)


def test_a_request_with_a_body_is_never_pooled(client, scripted):
    server = scripted(OK, OK, OK)
    assert _get(client, server, method="POST", data=b"payload").data == b"ok"
    assert b"\r\nConnection: close\r\n" in server.requests[0]
    assert _get(client, server, data=b"a GET body").data == b"ok"  # sent whole, then closed
    assert _get(client, server).data == b"ok"
    assert server.connections == 3
    assert b"Connection: close" not in server.requests[2]


def test_an_answer_nobody_asked_for_is_never_relayed(client, scripted):
    """A workspace that answers twice (it took part of a request for another): the connection
    holding the extra answer is dropped, the next request gets its own answer."""
    extra = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecret"
    server = scripted(OK + extra, OK)
    assert _get(client, server).data == b"ok"
    second = _get(client, server)
    assert second.data == b"ok"
    assert server.connections == 2


def test_a_dropped_kept_alive_connection_is_retried_on_a_new_one(client, scripted):
    server = scripted(OK, None, OK)
    assert _get(client, server).data == b"ok"
    response = _get(client, server)  # the first connection closes without answering
    assert response.status_code == 200 and response.data == b"ok"
    assert server.connections == 2


def test_chunked_answer_is_decoded_and_trailers_dropped(client, scripted):
    server = scripted(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Kind: chunks\r\n\r\n"
        b"5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: t\r\n\r\n",
        OK,
    )
    response = _get(client, server)
    assert response.status_code == 200
    assert response.data == b"hello world"
    assert response.headers["X-Kind"] == "chunks"
    assert "Transfer-Encoding" not in response.headers  # hop-by-hop: the front server frames
    assert _get(client, server).data == b"ok"
    assert server.connections == 1  # the chunked answer ended cleanly: reused


def test_close_delimited_answer(client, scripted):
    server = scripted(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end", OK)
    response = _get(client, server)
    assert response.data == b"until the end"
    assert _get(client, server).data == b"ok"
    assert server.connections == 2  # HTTP/1.0 without keep-alive: not reused


def test_interim_answers_are_skipped_and_folded_headers_joined(client, scripted):
    server = scripted(
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 201 Created\r\nX-Folded: one\r\n two\r\nContent-Length: 3\r\n\r\nnew"
    )
    response = _get(client, server)
    assert response.status_code == 201
    assert response.headers["X-Folded"] == "one two"
    assert response.data == b"new"


def test_bodiless_answers(client, scripted):
    server = scripted(
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",  # to HEAD: no body follows
        b"HTTP/1.1 204 No Content\r\n\r\n",
        b"HTTP/1.1 304 Not Modified\r\nETag: x\r\n\r\n",
        OK,
    )
    head = _get(client, server, method="HEAD")
    assert head.status_code == 200 and head.headers["Content-Length"] == "10"
    assert _get(client, server).status_code == 204
    assert _get(client, server).status_code == 304
    assert _get(client, server).data == b"ok"
    assert server.connections == 1


@pytest.mark.parametrize(
    "answer",
    [
        b"SSH-2.0-OpenSSH_9.2\r\n",
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Le",  # closed mid-head
        b"",  # closed without a word, on a fresh connection
    ],
)
def test_answers_that_are_not_http_are_502(client, scripted, answer):
    server = scripted(answer or None)
    response = _get(client, server)
    assert response.status_code == 502
    assert response.json["error"]["msg"].startswith("Nothing answers on port")


def test_a_body_cut_short_ends_the_response(client, scripted):
    server = scripted(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this", OK)
    response = _get(client, server)
    assert response.status_code == 200  # the head was relayed before the body broke
    assert response.data == b"only this"
    assert _get(client, server).data == b"ok"
    assert server.connections == 2  # the broken connection is not pooled


def test_a_control_character_in_a_header_is_400(client, scripted):
    server = scripted(OK)
    response = _get(client, server, environ_overrides={"HTTP_X_EVIL": "a\r\nX-Injected: 1"})
    assert response.status_code == 400
    assert server.requests == []
