"""Traffic bookkeeping for proxied requests: samples written in batches, visits throttled."""

from __future__ import annotations

import logging
import threading
import time

from app import db
from app.models.base import utcnow
from app.services import devurls

log = logging.getLogger("pycoderd.devurls")


class Sample:
    def __init__(self, workspace_id: str):
        self.workspace_id = workspace_id
        self.rx = 0
        self.tx = 0
        self.latency_ms = 0.0


class Recorder:
    """Batches traffic samples (one insert a second at most) and throttles visit bookkeeping.

    A batch is written by the request that finds it a second old, or else by a timer: the last
    samples of a burst do not wait for the next request to reach this worker.
    """

    def __init__(self, flush_seconds: float = 1.0, visit_seconds: float = 60.0):
        self.flush_seconds = flush_seconds
        self.visit_seconds = visit_seconds
        self.lock = threading.Lock()
        self.pending: list[devurls.TrafficSample] = []
        self.flushed_at = time.monotonic()
        self.visits: dict = {}
        self.timer: threading.Timer | None = None

    def add(self, sample: Sample) -> None:
        with self.lock:
            self.pending.append(
                devurls.TrafficSample(
                    workspace_id=sample.workspace_id,
                    rx_bytes=sample.rx,
                    tx_bytes=sample.tx,
                    latency_ms=sample.latency_ms,
                    time=utcnow(),
                )
            )
            due = time.monotonic() - self.flushed_at >= self.flush_seconds
            if not due and self.timer is None:
                self.timer = threading.Timer(self.flush_seconds, self.flush)
                self.timer.daemon = True
                self.timer.start()
        if due:
            self.flush()

    def flush(self) -> None:
        with self.lock:
            batch, self.pending = self.pending, []
            self.flushed_at = time.monotonic()
            if self.timer is not None and self.timer is not threading.current_thread():
                self.timer.cancel()
            self.timer = None
        try:
            devurls.record_traffic(batch)
        except Exception:
            log.exception("could not record %d dev URL traffic samples", len(batch))
        finally:
            db.close()

    def visit_due(self, workspace_id: str, user_id: str | None) -> bool:
        key = (workspace_id, user_id)
        now = time.monotonic()
        with self.lock:
            last = self.visits.get(key)
            if last is not None and now - last < self.visit_seconds:
                return False
            if len(self.visits) > 10_000:
                self.visits.clear()
            self.visits[key] = now
        return True
