"""Plain HTTP through a dev URL: one exchange with the workspace's port, the answer streamed back
in chunks (neither body is held whole), kept-alive connections pooled."""

from __future__ import annotations

import logging
import threading
import time

from app import errors
from app.devurls import replies, upstream, wire
from app.devurls.traffic import Recorder, Sample

log = logging.getLogger("pycoderd.devurls")


class Forwarder:
    def __init__(self, timeout: float | None, recorder: Recorder):
        self.timeout = timeout
        self.recorder = recorder
        self.pool = Pool()

    def forward(self, environ, start_response, key, head: bytes, sample: Sample):
        """Send the request (its cleaned `head`, then its body) to `key`: (scheme, address,
        port); relay the answer."""
        port = key[2]
        # Only bodiless requests go over a kept-alive connection: if the workspace closed it
        # meanwhile, they can be sent again on a fresh one.
        bodiless = not wire.is_chunked(environ) and environ.get("CONTENT_LENGTH", "") in ("", "0")
        conn = self.pool.take(key) if bodiless else None
        try:
            if conn is not None:
                try:
                    response = self._exchange(conn, environ, head, sample)
                except ConnectionError:
                    conn.close()
                    conn = None
            if conn is None:
                conn = upstream.Connection(*key, timeout=self.timeout)
                response = self._exchange(conn, environ, head, sample)
        except TimeoutError:
            conn.close()
            return replies.error(
                errors.GatewayTimeout(
                    detail=f"Port {port} of the workspace did not answer within {self.timeout:g} s."
                ),
                start_response,
            )
        except (OSError, upstream.BadResponse) as exc:
            if conn is not None:
                conn.close()
            return replies.error(
                errors.BadGateway(
                    f"Nothing answers on port {port} of the workspace.",
                    detail=f"{key[0]} to port {port}: {exc}",
                ),
                start_response,
            )
        start_response(f"{response.status} {response.reason}", wire.response_headers(response))
        return Body(conn, response, sample, self.recorder, self.pool, key)

    def _exchange(self, conn, environ, head: bytes, sample: Sample):
        conn.send(head)
        sample.rx = wire.send_body(conn, environ)
        started = time.perf_counter()
        response = conn.read_response(environ["REQUEST_METHOD"])
        sample.latency_ms = (time.perf_counter() - started) * 1000
        return response


class Body:
    """The upstream's response body, relayed chunk by chunk; counted when the server closes it.
    A connection whose exchange ended cleanly goes back to `pool` under `key` (None: closed)."""

    def __init__(self, conn, response, sample: Sample, recorder: Recorder, pool=None, key=None):
        self.conn = conn
        self.response = response
        self.sample = sample
        self.recorder = recorder
        self.pool = pool
        self.key = key

    def __iter__(self):
        try:
            while True:
                chunk = self.response.read1(wire.CHUNK)
                if not chunk:
                    return
                self.sample.tx += len(chunk)
                yield chunk
        except (OSError, upstream.BadResponse) as exc:
            # Headers are gone already: all that is left is cutting the response short.
            log.warning("dev URL upstream failed mid-response: %s", exc)

    def close(self):
        if self.pool is not None and self.response.complete and not self.response.will_close:
            self.pool.give(self.key, self.conn)
        else:
            self.conn.close()
        self.recorder.add(self.sample)


class Pool:
    """Idle kept-alive upstream connections, a few per workspace port."""

    def __init__(self, per_key: int = 16):
        self.per_key = per_key
        self.lock = threading.Lock()
        self.idle: dict = {}

    def take(self, key):
        with self.lock:
            conns = self.idle.get(key)
            return conns.pop() if conns else None

    def give(self, key, conn) -> None:
        with self.lock:
            conns = self.idle.setdefault(key, [])
            if len(conns) < self.per_key:
                conns.append(conn)
                return
        conn.close()
