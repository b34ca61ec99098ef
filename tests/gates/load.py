"""Bounded concurrent HTTP load: a fixed number of requests from N threads, with a deadline."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import requests


@dataclass
class Result:
    index: int
    status: int  # 0: no HTTP answer (connection error or timeout)
    body: object
    started: float
    error: str = ""


@dataclass
class Outcome:
    results: list[Result] = field(default_factory=list)
    timed_out: bool = False

    def statuses(self) -> dict[int, int]:
        counts: dict[int, int] = {}
        for result in self.results:
            counts[result.status] = counts.get(result.status, 0) + 1
        return counts

    def with_status(self, *statuses: int) -> list[Result]:
        return [r for r in self.results if r.status in statuses]


def _body(response: requests.Response):
    try:
        return response.json()
    except ValueError:
        return response.text


def run(
    request: Callable[[requests.Session, int], requests.Response],
    *,
    total: int,
    clients: int,
    deadline_seconds: float,
    stop: threading.Event | None = None,
    outcome: Outcome | None = None,
) -> Outcome:
    """Send `total` requests (request(session, i)) from `clients` threads; stop at the deadline.

    Results are appended to `outcome` (pass one in to watch progress from another thread).
    """
    outcome = outcome if outcome is not None else Outcome()
    lock = threading.Lock()
    counter = iter(range(total))
    deadline = time.monotonic() + deadline_seconds
    stop = stop or threading.Event()

    def client():
        session = requests.Session()
        while not stop.is_set():
            if time.monotonic() > deadline:
                outcome.timed_out = True
                return
            with lock:
                index = next(counter, None)
            if index is None:
                return
            started = time.monotonic()
            try:
                response = request(session, index)
                result = Result(index, response.status_code, _body(response), started)
            except requests.RequestException as exc:
                result = Result(index, 0, None, started, error=f"{type(exc).__name__}: {exc}")
            with lock:
                outcome.results.append(result)

    with ThreadPoolExecutor(max_workers=clients) as pool:
        futures = [pool.submit(client) for _ in range(clients)]
    for future in futures:
        future.result()  # a bug in the client itself fails the test
    return outcome
