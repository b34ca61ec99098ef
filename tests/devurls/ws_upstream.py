"""Real WebSocket servers on loopback standing in for an app inside a workspace."""

from __future__ import annotations

import base64
import hashlib
import json
import queue
import socket
import ssl
import threading
from pathlib import Path

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import serve

from tests.support import tls

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_MESSAGE = 4 * 1024 * 1024


class WebSocketUpstream:
    """The `websockets` library's server in a thread.

    Any path upgrades and echoes every message, except `headers` (answered with the handshake's
    path and headers as JSON) and `bye` (the server closes). `/missing` answers 404 and `/plain`
    200 instead of upgrading. Every handshake that arrives is listed in `requests`; every ended
    WebSocket puts its path on `ended`.
    """

    def __init__(self, ssl_context: ssl.SSLContext | None = None):
        self.requests: list[tuple[str, dict]] = []
        self.ended: queue.Queue = queue.Queue()
        self.server = serve(
            self._handle,
            "127.0.0.1",
            0,
            ssl=ssl_context,
            process_request=self._route,
            select_subprotocol=lambda connection, offered: "chat" if "chat" in offered else None,
            ping_interval=None,
            max_size=MAX_MESSAGE,
        )
        self.port = self.server.socket.getsockname()[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _route(self, connection, request):
        self.requests.append((request.path, {k.lower(): v for k, v in request.headers.raw_items()}))
        if request.path.startswith("/missing"):
            return connection.respond(404, "no WebSocket here\n")
        if request.path.startswith("/plain"):
            return connection.respond(200, "just HTTP\n")
        return None

    def _handle(self, ws):
        try:
            for message in ws:
                if message == "headers":
                    path, headers = self.requests[-1]
                    ws.send(json.dumps({"path": path, "headers": headers}))
                elif message == "bye":
                    ws.close(1000, "bye")
                else:
                    ws.send(message)
        except ConnectionClosed:
            pass
        finally:
            self.ended.put(ws.request.path)

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)


def self_signed_context(folder: Path) -> ssl.SSLContext:
    """A server TLS context with a fresh self-signed certificate, as workspaces often have."""
    cert, key = tls.self_signed("workspace")
    cert_path, key_path = folder / "workspace.crt", folder / "workspace.key"
    cert_path.write_bytes(cert)
    key_path.write_bytes(key)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context


class EarlyUpstream:
    """A bare-socket WebSocket server that writes its 101 and a first frame in one send.

    The proxy reads the 101 through a buffered reader, so the frame is already in that buffer
    when the relay starts; it must still reach the client.
    """

    GREETING = b"\x81\x05early"  # an unmasked text frame: "early"

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve_one, daemon=True)
        self.thread.start()

    def _serve_one(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return  # stopped before anyone came
        with conn:
            conn.settimeout(10)
            head = b""
            while b"\r\n\r\n" not in head:
                head += conn.recv(4096)
            key = next(
                line.split(b":", 1)[1].strip()
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"sec-websocket-key:")
            )
            accept = base64.b64encode(hashlib.sha1(key + GUID.encode()).digest())
            head = (
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n" % accept
            )
            conn.sendall(head + self.GREETING)
            # The client's close frame comes next: answer it with one of ours, then hang up.
            if conn.recv(4096):
                conn.sendall(b"\x88\x02\x03\xe8")

    def stop(self) -> None:
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in accept()
        except OSError:
            pass
        self.listener.close()
        self.thread.join(timeout=10)
