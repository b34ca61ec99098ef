"""A real HTTP server on loopback standing in for an app inside a workspace."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

MB = 1024 * 1024


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _json(self, status: int, payload: dict) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.send_header("Keep-Alive", "timeout=5")
        self.end_headers()
        self.wfile.write(body)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", ""):
            data = b""
            while True:
                size = int(self.rfile.readline().strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_GET(self):
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if url.path == "/big":
            self._big(int(query["mb"][0]))
        elif url.path == "/slow":
            time.sleep(float(query["seconds"][0]))
            self._json(200, {"slow": True})
        else:
            self._json(200, self._echo(b""))

    def do_POST(self):
        if self.path == "/count":
            self._json(200, {"body_length": self._count_body()})
            return
        self._json(200, self._echo(self._read_body()))

    def _count_body(self) -> int:
        """Read and drop the body (Content-Length or chunked), holding one block at a time."""
        total = 0
        if "chunked" in self.headers.get("Transfer-Encoding", ""):
            while size := int(self.rfile.readline().strip(), 16):
                while size:
                    got = len(self.rfile.read(min(size, 65536)))
                    size -= got
                    total += got
                self.rfile.readline()
            self.rfile.readline()
            return total
        remaining = int(self.headers.get("Content-Length") or 0)
        while remaining:
            got = len(self.rfile.read(min(remaining, 65536)))
            remaining -= got
            total += got
        return total

    do_PUT = do_POST

    def _echo(self, body: bytes) -> dict:
        return {
            "method": self.command,
            "path": self.path,
            "headers": {name.lower(): value for name, value in self.headers.items()},
            "body": body.decode("latin-1"),
            "body_length": len(body),
            "port": self.server.server_address[1],
        }

    def _big(self, megabytes: int) -> None:
        block = bytes(range(256)) * 256  # 64 KiB
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(megabytes * MB))
        self.end_headers()
        for _ in range(megabytes * MB // len(block)):
            self.wfile.write(block)


class Upstream:
    """Serve Handler on a loopback address (127.0.0.1) in a thread; stop() shuts it down."""

    def __init__(self, host: str = "127.0.0.1"):
        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        # Clients that hang up early (the 504 tests) are expected: no tracebacks on stderr.
        self.server.handle_error = lambda request, client_address: None
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
