"""What gunicorn refuses before the app runs is answered in JSON (issue 14, finding 17).

Raw requests on a socket to a real `pycoderd server`: oversized headers, a long request line,
bad framing and garbage got gunicorn's HTML page. They get the version's JSON envelope (v2's
`{"message": ...}` when the request line could not be read), with the common headers.
"""

import json
import socket

import pytest

from tests.support import live_server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = live_server.start(tmp_path_factory.mktemp("gunicorn-errors"))
    yield running
    live_server.stop(running)


def _exchange(server, data: bytes) -> tuple[int, dict, bytes]:
    """Send raw bytes, read until the server closes: (status, headers, body)."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split(" ")[1]), headers, body


def _request(line: bytes, *headers: bytes, body: bytes = b"") -> bytes:
    return line + b"\r\n" + b"".join(h + b"\r\n" for h in (b"Host: x", *headers)) + b"\r\n" + body


CHUNKED_GARBAGE = (b"Transfer-Encoding: chunked",)

ATTACKS = {
    "long-request-line": (_request(b"GET /api/v2/" + b"a" * 9000 + b" HTTP/1.1"), 414),
    "oversized-header": (
        _request(b"GET /api/v2/buildinfo HTTP/1.1", b"X-Big: " + b"a" * 9000),
        431,
    ),
    "too-many-headers": (
        _request(b"GET /api/v2/buildinfo HTTP/1.1", *(b"X-%d: 1" % i for i in range(120))),
        431,
    ),
    "garbage-request-line": (b"GARBAGE\r\n\r\n", 400),
    "bad-http-version": (_request(b"GET /api/v2/buildinfo HTTP/9.9"), 400),
    "bad-header-name": (_request(b"GET /api/v2/buildinfo HTTP/1.1", b"Bad Name: 1"), 400),
    "content-length-and-chunked": (
        _request(
            b"POST /api/v2/csp/reports HTTP/1.1",
            b"Content-Length: 5",
            b"Transfer-Encoding: chunked",
            body=b"0\r\n\r\n",
        ),
        400,
    ),
    "two-content-lengths": (
        _request(
            b"POST /api/v2/csp/reports HTTP/1.1",
            b"Content-Length: 2",
            b"Content-Length: 3",
            body=b"{}",
        ),
        400,
    ),
    # Read by the app as it parses the body: a 400, not a 500.
    "bad-chunk-size": (
        _request(
            b"POST /api/v2/csp/reports HTTP/1.1",
            *CHUNKED_GARBAGE,
            b"Connection: close",
            body=b"zz\r\n{}\r\n0\r\n\r\n",
        ),
        400,
    ),
}


@pytest.mark.parametrize(("data", "status"), ATTACKS.values(), ids=ATTACKS.keys())
def test_refused_requests_are_answered_in_json(server, data, status):
    answered, headers, body = _exchange(server, data)
    assert answered == status
    assert headers["content-type"] == "application/json"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-coder-build-version"].startswith("v")
    assert int(headers["content-length"]) == len(body)
    document = json.loads(body)
    assert set(document) <= {"message", "detail"}
    assert document["message"]
    assert b"<html" not in body


def test_bad_framing_on_a_v0_route_answers_in_v0_envelope(server):
    status, _, body = _exchange(
        server,
        _request(
            b"POST /api/v0/orgs HTTP/1.1",
            b"Content-Length: 5",
            b"Transfer-Encoding: chunked",
            body=b"0\r\n\r\n",
        ),
    )
    assert status == 400
    error = json.loads(body)["error"]
    assert error["code"] == "bad_request"
    assert "TRANSFER-ENCODING" in error["details"] or "CONTENT-LENGTH" in error["details"]


def test_server_still_answers_afterwards(server):
    _exchange(server, ATTACKS["oversized-header"][0])
    status, _, body = _exchange(server, _request(b"GET /healthz HTTP/1.1", b"Connection: close"))
    assert status == 200 and body == b"OK"
