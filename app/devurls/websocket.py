"""WebSocket upgrades through the dev URL proxy: the handshake, then a byte relay in the thread.

WSGI cannot hand a connection over, but gunicorn puts the client's socket in the environ
(`gunicorn.socket`). The upgrade request goes to the workspace like any proxied request (same
access checks, credentials stripped, X-Forwarded-* set) plus `Connection: Upgrade`/`Upgrade`. A
non-101 answer is relayed as a normal response. After a 101 the relay writes the 101 itself on the
client's socket and copies bytes both ways, in this worker thread, until either side closes, the
session idles out or the worker stops. Then the WSGI call raises StopIteration, which gunicorn's
workers take as "close this connection": nothing more is written to the socket and it is never
kept alive. (Answering the 101 through start_response would not do: gunicorn treats a 1xx answer
as keep-alive and would put the socket back in its poller afterwards.)
"""

from __future__ import annotations

import logging
import selectors
import ssl
import threading
import time

from app import errors
from app.devurls import forwarding, replies, upstream, wire

log = logging.getLogger("pycoderd.devurls")

CHUNK = 64 * 1024
# Per direction: a side is not read while this much waits to be written to the other one.
BUFFER = 256 * 1024
# Once one side has closed, how long the other gets to take what was left for it.
LINGER_SECONDS = 5.0
# The longest wait between checks of the idle timeout and of the worker stopping.
POLL_SECONDS = 1.0
READ, WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE
_WOULD_BLOCK = (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError)

_worker = None


def watch_worker(worker) -> None:
    """gunicorn's post_worker_init hook: relays end as soon as this worker begins to stop."""
    global _worker
    _worker = worker


def _stopping() -> bool:
    if _worker is not None:
        return not _worker.alive
    # Another server: at least notice the interpreter shutting down.
    return not threading.main_thread().is_alive()


def requested(environ) -> bool:
    """Whether this is a WebSocket opening handshake (RFC 6455 §4.1) the relay can take."""
    upgrade = environ.get("HTTP_UPGRADE")
    return bool(
        upgrade
        and "websocket" in wire.tokens(upgrade)
        and "upgrade" in wire.tokens(environ.get("HTTP_CONNECTION", ""))
        and environ.get("REQUEST_METHOD") == "GET"
        and environ.get("SERVER_PROTOCOL") == "HTTP/1.1"
        # A body would sit in the server's read buffer, out of the relay's reach.
        and environ.get("CONTENT_LENGTH", "") in ("", "0")
        and not environ.get("HTTP_TRANSFER_ENCODING")
    )


class Relay:
    """The WebSocket side of one DevURLProxy: at most `limit` relays at once in this process."""

    def __init__(self, settings, timeout: float | None, recorder):
        self.timeout = timeout
        self.recorder = recorder
        self.limit = settings["pycoderd.devurl_websocket_limit"]
        self.idle = settings["pycoderd.devurl_websocket_idle_timeout"] / 1e9 or None
        self.lock = threading.Lock()
        self.active = 0

    def forward(self, environ, start_response, key, head: bytes, sample):
        """Relay the handshake whose cleaned request head (from the proxy) is `head`."""
        client = environ.get("gunicorn.socket")
        if client is None:
            return replies.error(
                errors.NotImplementedHere(
                    "WebSockets are relayed only by pycoderd server.",
                    detail="This server does not hand the connection to the application; "
                    "serve pycoderd with `pycoderd server` (gunicorn) to proxy WebSockets.",
                ),
                start_response,
            )
        if not self._acquire():
            return replies.error(
                errors.Unavailable(
                    "Too many WebSockets are open on this server.",
                    detail=f"A server worker relays at most {self.limit} WebSockets at once "
                    "(CODER_DEVURL_WEBSOCKET_LIMIT); try again when one has closed.",
                    headers={"Retry-After": "5"},
                ),
                start_response,
            )
        try:
            try:
                conn, response = self._handshake(key, head, sample)
            except errors.APIError as error:
                return replies.error(error, start_response)
            if response.status != 101:
                # The workspace declined: its answer is an ordinary HTTP response.
                status = f"{response.status} {response.reason}"
                start_response(status, wire.response_headers(response))
                # Never pooled: the workspace may take the request as an upgrade still.
                return forwarding.Body(conn, response, sample, self.recorder)
            why = self._switch(client, conn, response, sample)
            log.debug("dev URL WebSocket to port %s ended: %s", key[2], why)
            self.recorder.add(sample)
        finally:
            self._release()
        # gunicorn closes the connection without writing to it (see the module docstring).
        raise StopIteration("WebSocket relay ended")

    def _acquire(self) -> bool:
        with self.lock:
            if self.active >= self.limit:
                return False
            self.active += 1
            return True

    def _release(self) -> None:
        with self.lock:
            self.active -= 1

    def _handshake(self, key, head: bytes, sample):
        """Send the upgrade request on a fresh connection; returns (connection, response)."""
        scheme, address, port = key
        # The proxy's head drops Connection and Upgrade as hop-by-hop: this hop asks again.
        head = head[:-2] + b"Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
        conn = None
        try:
            conn = upstream.Connection(*key, timeout=self.timeout)
            conn.send(head)
            started = time.perf_counter()
            response = conn.read_response("GET")
            sample.latency_ms = (time.perf_counter() - started) * 1000
        except TimeoutError:
            if conn is not None:
                conn.close()
            raise errors.GatewayTimeout(
                detail=f"Port {port} of the workspace did not answer within {self.timeout:g} s."
            ) from None
        except (OSError, upstream.BadResponse) as exc:
            if conn is not None:
                conn.close()
            raise errors.BadGateway(
                f"Nothing answers on port {port} of the workspace.",
                detail=f"{scheme} to port {port}: {exc}",
            ) from None
        return conn, response

    def _switch(self, client_sock, conn, response, sample) -> str:
        """Answer 101 to the client, then relay until the session ends; returns why it ended."""
        upstream_sock = conn.sock
        try:
            upstream_sock.setblocking(False)
            early = _buffered(response)
            sample.tx += len(early)
            client_sock.sendall(_switching_head(response))
            client_sock.setblocking(False)
            return self._pump(_End(client_sock, early), _End(upstream_sock), sample)
        except OSError as exc:
            return f"failed: {exc}"
        except Exception:
            # The client speaks WebSocket by now: no HTTP error can reach it, only the close.
            log.exception("dev URL WebSocket relay failed")
            return "failed"
        finally:
            conn.close()
            client_sock.setblocking(True)

    def _pump(self, client: _End, upstream: _End, sample) -> str:
        peers = {client: upstream, upstream: client}
        names = {client: "client", upstream: "workspace"}
        selector = selectors.DefaultSelector()
        ended = ""
        linger_until = 0.0
        last_data = time.monotonic()
        try:
            while True:
                now = time.monotonic()
                if ended and (now >= linger_until or not (client.pending or upstream.pending)):
                    return ended
                if _stopping():
                    return "the server is stopping"
                if self.idle and now - last_data >= self.idle:
                    log.info("dev URL WebSocket closed after %g s without data", self.idle)
                    return "idle"
                ready: dict[_End, int] = {}
                for end, peer in peers.items():
                    events = WRITE if end.pending else 0
                    if not ended and len(peer.pending) < BUFFER:
                        events |= READ
                        if end.buffered():
                            ready[end] = READ
                    _watch(selector, end, events)
                timeout = POLL_SECONDS
                if self.idle:
                    timeout = min(timeout, self.idle - (now - last_data))
                if ended:
                    timeout = min(timeout, linger_until - now)
                for selected, mask in selector.select(0 if ready else max(timeout, 0)):
                    ready[selected.data] = ready.get(selected.data, 0) | mask
                for end, mask in ready.items():
                    peer = peers[end]
                    try:
                        if mask & WRITE and end.pending:
                            sent = end.flush()
                            if sent:
                                last_data = now
                                if end is upstream:
                                    sample.rx += sent
                        if mask & READ and not ended:
                            data = end.receive()
                            if data == b"":
                                ended = f"the {names[end]} closed"
                                linger_until = now + LINGER_SECONDS
                            elif data:
                                peer.pending += data
                                last_data = now
                                if end is upstream:
                                    sample.tx += len(data)
                    except OSError as exc:
                        return f"the {names[end]} failed: {exc}"
        finally:
            selector.close()


class _End:
    """One side of the relay: its non-blocking socket and the bytes waiting to be written to it."""

    def __init__(self, sock, pending: bytes = b""):
        self.sock = sock
        self.pending = bytearray(pending)

    def buffered(self) -> bool:
        """Decrypted TLS data waiting in the socket object, which select() cannot see."""
        return isinstance(self.sock, ssl.SSLSocket) and self.sock.pending() > 0

    def receive(self) -> bytes | None:
        """The bytes that were ready, b"" at end of stream, None if nothing was."""
        try:
            return self.sock.recv(CHUNK)
        except _WOULD_BLOCK:
            return None

    def flush(self) -> int:
        # A TLS write that could not finish is retried with the same bytes and at least as many
        # (as OpenSSL requires): `pending` only grows at its end until a write succeeds.
        try:
            with memoryview(self.pending) as view, view[:CHUNK] as part:
                sent = self.sock.send(part)
        except _WOULD_BLOCK:
            return 0
        del self.pending[:sent]
        return sent


def _watch(selector, end: _End, events: int) -> None:
    key = selector.get_map().get(end.sock)
    if not events:
        if key is not None:
            selector.unregister(end.sock)
    elif key is None:
        selector.register(end.sock, events, end)
    elif key.events != events:
        selector.modify(end.sock, events, end)


def _buffered(response) -> bytes:
    """What the workspace sent right behind its 101, which the response reader has already."""
    try:
        return response.reader.read1(BUFFER) or b""
    except _WOULD_BLOCK:
        return b""


def _switching_head(response) -> bytes:
    drop = wire.hop_by_hop(response.header("Connection"))
    lines = ["HTTP/1.1 101 Switching Protocols"]
    lines += [
        f"{name}: {value}"
        for name, value in response.headers
        if name.lower() not in drop and _safe(name) and _safe(value)
    ]
    upgrade = response.header("Upgrade")
    if not (upgrade and _safe(upgrade)):
        upgrade = "websocket"
    lines += ["Connection: Upgrade", f"Upgrade: {upgrade}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _safe(text: str) -> bool:
    """No line breaks: a header folded over lines must not split the head we write."""
    return "\r" not in text and "\n" not in text and "\0" not in text
