"""A daemon thread that runs one job now and then every interval, until stopped."""

from __future__ import annotations

import logging
import threading
import weakref

log = logging.getLogger("pycoderd.background")

_running: weakref.WeakSet = weakref.WeakSet()


class Periodic:
    """Run `job()` at start and then every `interval()` seconds (re-read after each run)."""

    def __init__(self, name: str, job, interval):
        self.name = name
        self._job = job
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start once, running the job now; later calls do nothing."""
        self.start_later(0)

    def start_later(self, delay: float) -> None:
        """Start once, running the job first after `delay` seconds; later calls do nothing."""
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(
                target=self._loop, args=(delay,), name=self.name, daemon=True
            )
            self._thread.start()
            _running.add(self)

    @property
    def started(self) -> bool:
        return self._thread is not None

    def stop(self, timeout: float = 5) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _loop(self, delay: float) -> None:
        if delay > 0 and self._stop.wait(delay):
            return
        while not self._stop.is_set():
            try:
                self._job()
            except Exception:
                log.exception("background job %s failed", self.name)
            self._stop.wait(max(self._interval(), 0.01))


def stop_all() -> None:
    """Stop every running job (tests call this between apps)."""
    for job in list(_running):
        job.stop()
