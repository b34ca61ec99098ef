"""pycoderd's own WebSocket endpoints (wsep, watch-update) under gunicorn.

A view checks the request like any other (authentication, access, state: failures are ordinary
HTTP answers in the API's envelope), then returns `accept(request, handler, max_size)`. That
validates the handshake with the `websockets` package's sans-I/O `ServerProtocol` (no framing of
our own), takes one of the worker's WebSocket places and returns a `Takeover` response. The
`Takeovers` WSGI middleware sees it once Flask has finished the request (hooks and teardown
done, the database connection closed), writes the 101 on `gunicorn.socket` and runs
`handler(connection)` in this worker thread. Then it raises StopIteration, which gunicorn takes as
"close this connection" without writing to it (the dev URL relay's way: app.devurls.websocket).

Each open WebSocket holds a worker thread: a worker serves at most `CODER_WEBSOCKET_LIMIT` (more
get 503) and has that many threads on top of the API's (app.gunicorn_server). Handlers end when
the worker begins to stop (`stopping()`). Outside gunicorn (the Flask test client, other WSGI
servers) nothing hands the connection over: 501. A handshake authenticated by the session
cookie must come from this deployment's own origin (browsers always send `Origin` on WebSocket
handshakes, and a cross-site page must not run commands with a visitor's cookie).
"""

from __future__ import annotations

import logging
import select
import threading
import time
from collections.abc import Callable

from flask import Response, current_app
from websockets.datastructures import Headers
from websockets.frames import Opcode
from websockets.http11 import Request
from websockets.protocol import State
from websockets.server import ServerProtocol

from app import auth, csrf, errors
from app.devurls import websocket as relay

log = logging.getLogger("pycoderd.websocket")

CHUNK = 64 * 1024
LINGER_SECONDS = 5.0  # after our close frame: how long the client gets to answer it
POLL_SECONDS = 1.0  # the longest wait between checks of the worker stopping


def stopping() -> bool:
    """Whether this worker has begun to stop (gunicorn's post_worker_init hook watches it)."""
    return relay._stopping()


class Places:
    """At most `limit` WebSockets open at once in this worker process."""

    def __init__(self, limit: int):
        self.limit = limit
        self.lock = threading.Lock()
        self.active = 0

    def take(self) -> bool:
        with self.lock:
            if self.active >= self.limit:
                return False
            self.active += 1
            return True

    def give_back(self) -> None:
        with self.lock:
            self.active -= 1


def init_app(app) -> None:
    app.extensions["websocket_places"] = Places(app.config["SETTINGS"]["pycoderd.websocket_limit"])
    app.wsgi_app = Takeovers(app.wsgi_app)


def accept(request, handler: Callable[[Connection], None], max_size: int) -> Takeover:
    """Answer the handshake in `request` (Flask's) by running `handler` on the connection."""
    headers = Headers()
    for name, value in request.headers.items():
        headers[name] = value
    # gunicorn has parsed the request: this protocol only checks it and writes the answer.
    response = ServerProtocol(logger=log).accept(
        Request(request.full_path, headers, request.method, request.environ["SERVER_PROTOCOL"])
    )
    if response.status_code == 426:
        raise errors.UpgradeRequired(
            detail="Open it with a WebSocket client.", headers={"Upgrade": "websocket"}
        )
    if response.status_code != 101:
        raise errors.BadRequest(response.body.decode("utf-8", "replace").strip())
    _check_origin(request)
    sock = request.environ.get("gunicorn.socket")
    if sock is None:
        raise errors.NotImplementedHere(
            "WebSockets are served only by pycoderd server.",
            detail="This server does not hand the connection to the application; "
            "serve pycoderd with `pycoderd server` (gunicorn).",
        )
    places = current_app.extensions["websocket_places"]
    if not places.take():
        raise errors.Unavailable(
            "Too many WebSockets are open on this server.",
            detail=f"A server worker serves at most {places.limit} WebSockets at once "
            "(CODER_WEBSOCKET_LIMIT); try again when one has closed.",
            headers={"Retry-After": "5"},
        )
    return Takeover(sock, response, handler, max_size, places)


def _check_origin(request) -> None:
    """Cookie-authenticated handshakes sent by a browser must come from our own origin."""
    sent = request.headers.get("Origin")
    if sent is None or not (request.cookies.get(auth.SESSION_COOKIE) or "").strip():
        return
    own = {
        csrf.origin_of(f"{request.scheme}://{request.host}"),
        csrf.origin_of(current_app.config["SETTINGS"]["access_url"] or ""),
    } - {None}
    if csrf.origin_of(sent) not in own:
        raise errors.Forbidden(
            detail="A WebSocket opened with the session cookie must come from this "
            f'deployment\'s own origin, not "{sent[:200]}". Clients: send the token in the '
            "Session-Token header."
        )


class Takeover(Response):
    """The answer of a view that accepted a WebSocket: `Takeovers` runs it on the socket."""

    def __init__(self, sock, handshake, handler, max_size: int, places):
        super().__init__(status=101)
        self.sock = sock
        self.handshake = handshake  # the 101 answer
        self.handler = handler
        self.max_size = max_size
        self.places = places
        self.ran = False

    def __call__(self, environ, start_response):
        return self  # nothing is written through WSGI: see Takeovers

    def __iter__(self):
        return iter(())

    def run(self) -> None:
        self.ran = True
        try:
            # Frames from here on: a protocol that starts OPEN, behind the handshake.
            protocol = ServerProtocol(state=State.OPEN, max_size=self.max_size, logger=log)
            connection = Connection(self.sock, protocol, self.handshake.serialize())
            log.debug("WebSocket open")
            try:
                connection.flush(timeout=LINGER_SECONDS)
                self.handler(connection)
                connection.finish()
            except OSError as exc:
                log.debug("WebSocket ended: %s", exc)
            except Exception:
                # The client speaks WebSocket by now: only a close frame can reach it.
                log.exception("WebSocket handler failed")
                connection.abort()
            finally:
                self.sock.setblocking(True)
        finally:
            self.places.give_back()

    def close(self) -> None:
        if not self.ran:  # answered by something else than Takeovers (never under gunicorn)
            self.ran = True
            self.places.give_back()


class Takeovers:
    """WSGI middleware: runs the WebSocket a view accepted (see the module docstring)."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        result = self.wsgi_app(environ, start_response)
        if isinstance(result, Takeover):
            result.run()
            raise StopIteration("WebSocket closed")
        return result


class Connection:
    """One accepted WebSocket: whole messages in, messages out, through the sans-I/O protocol.

    The socket is non-blocking: `receive()` takes what has arrived, `send_*` queue frames and
    `flush()` writes them. Watch `fileno()` (readable) and `wants_write` (writable) in a
    selector, or use the blocking helpers `flush(timeout)` and `wait_readable(timeout)`.
    """

    def __init__(self, sock, protocol: ServerProtocol, first: bytes = b""):
        self.sock = sock
        self.protocol = protocol
        self.outgoing = bytearray(first)
        self.eof_to_send = False
        self.closed = False  # the client closed, or the connection failed: nothing more comes
        self._message: tuple[Opcode, bytearray] | None = None
        sock.setblocking(False)

    def fileno(self) -> int:
        return self.sock.fileno()

    @property
    def wants_write(self) -> bool:
        return bool(self.outgoing) or self.eof_to_send

    @property
    def open(self) -> bool:
        """Messages may still be sent (no close frame sent or received yet)."""
        return self.protocol.state is State.OPEN

    def receive(self) -> list[bytes]:
        """The whole messages (text or binary, as bytes) that have arrived; never blocks."""
        if self.closed:
            return []
        try:
            data = self.sock.recv(CHUNK)
        except (BlockingIOError, InterruptedError):
            return []
        except OSError:
            data = b""
        if data:
            self.protocol.receive_data(data)
        else:
            self.protocol.receive_eof()
        messages = []
        for frame in self.protocol.events_received():
            if frame.opcode in (Opcode.TEXT, Opcode.BINARY):
                self._message = (frame.opcode, bytearray(frame.data))
            elif frame.opcode is Opcode.CONT and self._message is not None:
                self._message[1].extend(frame.data)
            else:
                continue  # ping (the protocol queued the pong), pong, close
            if frame.fin:
                messages.append(bytes(self._message[1]))
                self._message = None
        self._take_output()
        if not data or self.protocol.state is not State.OPEN:
            self.closed = True
        return messages

    def send_binary(self, data: bytes) -> None:
        if self.open:
            self.protocol.send_binary(data)
            self._take_output()

    def send_text(self, text: str) -> None:
        if self.open:
            self.protocol.send_text(text.encode())
            self._take_output()

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Send the close frame (the reason is cut to fit the frame)."""
        if self.open:
            self.protocol.send_close(code, _fit(reason))
            self._take_output()

    def _take_output(self) -> None:
        for data in self.protocol.data_to_send():
            if data:
                self.outgoing += data
            else:
                self.eof_to_send = True

    def flush(self, timeout: float = 0) -> bool:
        """Write what is queued, waiting up to `timeout` s for room; True once all is written."""
        deadline = time.monotonic() + timeout
        while self.outgoing:
            try:
                with memoryview(self.outgoing) as view, view[:CHUNK] as part:
                    sent = self.sock.send(part)
                del self.outgoing[:sent]
            except (BlockingIOError, InterruptedError):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                select.select([], [self.sock], [], min(left, POLL_SECONDS))
        if self.eof_to_send:
            self.eof_to_send = False
            self.sock.shutdown(1)  # SHUT_WR: the server ends the TCP connection first
        return True

    def wait_readable(self, timeout: float) -> bool:
        readable, _, _ = select.select([self.sock], [], [], max(timeout, 0))
        return bool(readable)

    def finish(self) -> None:
        """After the handler: close if it did not, let the client answer, then stop reading."""
        self.close(1000)
        deadline = time.monotonic() + LINGER_SECONDS
        while time.monotonic() < deadline and not self.closed and not stopping():
            self.flush(timeout=deadline - time.monotonic())
            if self.wait_readable(min(POLL_SECONDS, deadline - time.monotonic())):
                self.receive()
        self.flush(timeout=max(0.0, deadline - time.monotonic()))

    def abort(self) -> None:
        try:
            self.close(1011, "internal error")
            self.flush(timeout=1)
        except OSError:
            pass


def _fit(reason: str) -> str:
    """A close reason within the 123 bytes a close frame has room for."""
    data = reason.encode()
    if len(data) <= 123:
        return reason
    return data[:120].decode("utf-8", "ignore") + "..."
