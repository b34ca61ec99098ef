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

    def forward(self, environ, start_response, target, head: bytes, sample: Sample, pool_key):
        """Send the request (its cleaned `head`, then its body) to `target`: (scheme, address,
        port); relay the answer.

        A response must only ever reach the request it answers. So a kept-alive connection is
        reused only by the same visitor of the same dev URL (`pool_key`; None: a visitor with
        no identity, never pooled), and only after an exchange that ended cleanly: no request
        body (a workspace may not read it and take it for another request), the response read
        to its end, and nothing more waiting on the socket. Every other exchange asks the
        workspace to close (`Connection: close`) and is closed.
        """
        port = target[2]
        reusable = pool_key is not None and not wire.has_body(environ)
        if not reusable:
            head = wire.add_header(head, "Connection", "close")
        # A pooled connection the workspace closed meanwhile: a bodiless request is sent again.
        conn = self.pool.take(pool_key) if reusable else None
        try:
            if conn is not None:
                try:
                    response = self._exchange(conn, environ, head, sample)
                except ConnectionError:
                    conn.close()
                    conn = None
            if conn is None:
                conn = upstream.Connection(*target, timeout=self.timeout)
                response = self._exchange(conn, environ, head, sample)
        except wire.BodyCutShort as exc:
            conn.close()
            return replies.error(errors.BadRequest(detail=str(exc)), start_response)
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
                    detail=f"{target[0]} to port {port}: {exc}",
                ),
                start_response,
            )
        start_response(f"{response.status} {response.reason}", wire.response_headers(response))
        if not reusable:
            return Body(conn, response, sample, self.recorder)
        return Body(conn, response, sample, self.recorder, self.pool, pool_key)

    def _exchange(self, conn, environ, head: bytes, sample: Sample):
        conn.send(head)
        sample.rx = wire.send_body(conn, environ)
        started = time.perf_counter()
        response = conn.read_response(environ["REQUEST_METHOD"])
        sample.latency_ms = (time.perf_counter() - started) * 1000
        return response


class Body:
    """The upstream's response body, relayed chunk by chunk; counted when the server closes it.
    A connection whose response was read to its end goes back to `pool` under `key`, which
    checks it is quiet; without a pool it is closed."""

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
    """Idle kept-alive upstream connections, a few per key (dev URL, visitor and address).

    A connection goes in, and comes out, only when nothing waits to be read on it: bytes that
    arrive on an idle connection answer no request of ours.
    """

    def __init__(self, per_key: int = 8, total: int = 256):
        self.per_key = per_key
        self.total = total
        self.lock = threading.Lock()
        self.idle: dict = {}
        self.count = 0

    def take(self, key):
        while True:
            with self.lock:
                conns = self.idle.get(key)
                if not conns:
                    return None
                conn = conns.pop()
                if not conns:
                    del self.idle[key]
                self.count -= 1
            if conn.quiet():
                return conn
            conn.close()

    def give(self, key, conn) -> None:
        if conn.quiet():
            with self.lock:
                conns = self.idle.setdefault(key, [])
                if len(conns) < self.per_key and self.count < self.total:
                    conns.append(conn)
                    self.count += 1
                    return
        conn.close()
