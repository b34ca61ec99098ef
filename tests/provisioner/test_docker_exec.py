"""The exec stream's framing and start answer, against a scripted Docker API socket."""

from __future__ import annotations

import socket
import threading

import pytest

from app.provisioner import docker_exec
from app.provisioner.engine import STDERR, STDOUT, EngineError


def frame(stream: int, data: bytes) -> bytes:
    return bytes([stream, 0, 0, 0]) + len(data).to_bytes(4, "big") + data


def test_demux_splits_streams_fed_one_byte_at_a_time():
    wire = frame(1, b"out\n") + frame(2, b"err\n") + frame(1, b"") + frame(1, bytes(range(256)))
    demux = docker_exec._Demux(tty=False)
    out = {STDOUT: bytearray(), STDERR: bytearray()}
    for i in range(len(wire)):
        for stream, data in demux.feed(wire[i : i + 1]):
            out[stream] += data
    assert out == {STDOUT: b"out\n" + bytes(range(256)), STDERR: b"err\n"}


def test_demux_merges_neighbours_and_passes_a_terminal_through():
    wire = frame(1, b"a") + frame(1, b"b") + frame(2, b"c") + frame(3, b"engine says no")
    assert docker_exec._Demux(tty=False).feed(wire) == [
        (STDOUT, b"ab"),
        (STDERR, b"cengine says no"),
    ]
    raw = b"\x01\x00\x00\x00 raw terminal bytes"
    assert docker_exec._Demux(tty=True).feed(raw) == [(STDOUT, raw)]


@pytest.fixture
def scripted_api(tmp_path):
    """A unix socket that answers one request with the given bytes in a single write."""
    path = tmp_path / "docker.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen(1)
    requests = []

    def serve(answer: bytes):
        conn, _ = server.accept()
        with conn:
            request = b""
            while b"\r\n\r\n" not in request:
                request += conn.recv(4096)
            requests.append(request)
            conn.sendall(answer)

    def answer_with(answer: bytes) -> str:
        threading.Thread(target=serve, args=(answer,), daemon=True).start()
        return f"unix://{path}"

    yield answer_with, requests
    server.close()


def test_output_sent_with_the_upgrade_answer_is_kept(scripted_api):
    answer_with, requests = scripted_api
    head = b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
    url = answer_with(head + frame(1, b"first bytes"))
    sock, early = docker_exec._start_request(url, "1.41", "abc", {"Tty": False})
    sock.close()
    assert docker_exec._Demux(tty=False).feed(early) == [(STDOUT, b"first bytes")]
    assert requests[0].startswith(b"POST /v1.41/exec/abc/start HTTP/1.1\r\n")
    assert b"Upgrade: tcp" in requests[0]


def test_an_error_answer_becomes_the_engines_message(scripted_api):
    answer_with, _ = scripted_api
    body = b'{"message":"unable to find user nosuchuser","response":500}'
    head = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: %d\r\n\r\n" % len(body)
    url = answer_with(head + body)
    with pytest.raises(EngineError, match="did not start: unable to find user nosuchuser"):
        docker_exec._start_request(url, "1.41", "abc", {})


def test_only_unix_and_tcp_addresses_can_run_commands():
    with pytest.raises(EngineError, match="unix:// or tcp://"):
        docker_exec._connect("ssh://user@host", 1)
