"""A lean HTTP/1.1 client for the proxy's side of a dev URL: the workspace's port.

http.client parses every response head with the email package, which was a third of the proxy's
CPU per request. This client sends a request head in one write and parses the response head with
plain bytes operations; bodies are framed the usual ways (Content-Length, chunked, until close)
and read chunk by chunk, never whole.
"""

from __future__ import annotations

import select
import socket
import ssl

MAX_LINE = 65536
MAX_HEADERS = 100
NO_BODY_STATUSES = frozenset({204, 304})


class BadResponse(Exception):
    """The upstream's answer is not HTTP/1.x we can relay."""


class ClosedBeforeResponse(ConnectionError):
    """The upstream closed the connection without answering (e.g. a kept-alive one it dropped)."""


class Connection:
    def __init__(self, scheme: str, host: str, port: int, timeout: float | None):
        sock = socket.create_connection((host, port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if scheme == "https":
            context = ssl.create_default_context()
            # Workspaces serve self-signed certificates on their own loopback or bridge.
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            sock = context.wrap_socket(sock)
        self.sock = sock
        self.timeout = timeout
        self.reader = sock.makefile("rb")

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_response(self, method: str) -> Response:
        """The next response's status and head; 1xx interim answers are skipped."""
        while True:
            line = self.reader.readline(MAX_LINE + 1)
            if not line:
                raise ClosedBeforeResponse("the workspace closed the connection without answering")
            version, status, reason = _status_line(line)
            headers = _header_lines(self.reader)
            if 100 <= status < 200 and status != 101:
                continue
            return Response(self.reader, method, version, status, reason, headers)

    def quiet(self) -> bool:
        """Whether nothing waits to be read: no byte buffered here or in TLS, and none (nor the
        end of the stream) on the socket. Bytes nobody asked for are an answer to a request the
        workspace found in what it was sent (a body it did not read): never to be relayed."""
        if isinstance(self.sock, ssl.SSLSocket) and self.sock.pending():
            return False
        try:
            readable, _, _ = select.select([self.sock], [], [], 0)
            if readable:
                return False
            # Only what the reader holds already: a read now would find the socket empty.
            self.sock.settimeout(0)
            try:
                return not self.reader.peek(1)
            except (BlockingIOError, ssl.SSLWantReadError):
                return True
            finally:
                self.sock.settimeout(self.timeout)
        except (OSError, ValueError):
            return False

    def close(self) -> None:
        try:
            self.reader.close()
        finally:
            self.sock.close()


class Response:
    """Status, headers as sent, and the body through `read1`; `complete` once all was read."""

    def __init__(self, reader, method: str, version: str, status: int, reason: str, headers):
        self.reader = reader
        self.status = status
        self.reason = reason
        self.headers = headers
        connection = self.header("Connection").lower()
        tokens = {token.strip() for token in connection.split(",")}
        self.will_close = "close" in tokens or (
            version == "HTTP/1.0" and "keep-alive" not in tokens
        )
        self.chunked = False
        self.remaining: int | None = None  # body bytes left; None: until the connection closes
        if method == "HEAD" or status in NO_BODY_STATUSES or status < 200:
            self.remaining = 0
        elif "chunked" in self.header("Transfer-Encoding").lower():
            self.chunked = True
            self.remaining = 0  # of the current chunk
        else:
            length = self.header("Content-Length")
            if length:
                if not length.strip().isdigit():
                    raise BadResponse(f"invalid Content-Length {length!r}")
                self.remaining = int(length)
            else:
                self.will_close = True
        self.complete = self.remaining == 0 and not self.chunked

    def header(self, name: str) -> str:
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return ""

    def read1(self, size: int) -> bytes:
        """Up to `size` body bytes from at most one read; b"" at the end of the body."""
        if self.complete:
            return b""
        if self.chunked:
            return self._read_chunk(size)
        if self.remaining is None:
            data = self.reader.read1(size)
            self.complete = not data
            return data
        data = self.reader.read1(min(size, self.remaining))
        if not data:
            raise BadResponse("the workspace closed the connection mid-body")
        self.remaining -= len(data)
        self.complete = self.remaining == 0
        return data

    def _read_chunk(self, size: int) -> bytes:
        if self.remaining == 0:
            line = self.reader.readline(MAX_LINE + 1)
            try:
                self.remaining = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise BadResponse("invalid chunk size") from None
            if self.remaining == 0:
                _header_lines(self.reader)  # trailers, dropped
                self.complete = True
                return b""
        data = self.reader.read1(min(size, self.remaining))
        if not data:
            raise BadResponse("the workspace closed the connection mid-chunk")
        self.remaining -= len(data)
        if self.remaining == 0 and self.reader.readline(MAX_LINE + 1) not in (b"\r\n", b"\n"):
            raise BadResponse("chunk not followed by CRLF")
        return data


def _status_line(line: bytes) -> tuple[str, int, str]:
    if len(line) > MAX_LINE:
        raise BadResponse("status line too long")
    parts = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise BadResponse(f"not an HTTP/1.x status line: {line[:80]!r}")
    status = int(parts[1])
    if not 100 <= status <= 999:
        raise BadResponse(f"invalid status {status}")
    return parts[0], status, parts[2] if len(parts) > 2 else ""


def _header_lines(reader) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    while True:
        line = reader.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise BadResponse("header line too long")
        if line in (b"\r\n", b"\n"):
            return headers
        if not line:
            raise BadResponse("the workspace closed the connection mid-head")
        if len(headers) >= MAX_HEADERS:
            raise BadResponse(f"more than {MAX_HEADERS} headers")
        text = line.decode("latin-1").rstrip("\r\n")
        if text[:1] in (" ", "\t") and headers:  # obsolete line folding
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {text.strip()}")
            continue
        name, colon, value = text.partition(":")
        if not colon or not name or name != name.strip():
            raise BadResponse(f"invalid header line {line[:80]!r}")
        headers.append((name, value.strip()))
