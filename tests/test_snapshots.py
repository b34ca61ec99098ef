"""Deployment snapshots: computed once per interval however many processes ask, then stored."""

import datetime as dt
import json
import threading
import time

import pytest

from app import db
from app.models import DeploymentSnapshot
from app.models.base import utcnow
from app.services import snapshots

HOUR = dt.timedelta(hours=1)


class Counter:
    """A computation that counts its rounds and returns the round's number and time."""

    def __init__(self, fail=None):
        self.rounds = 0
        self.fail = fail

    def __call__(self, now):
        self.rounds += 1
        if self.fail:
            raise self.fail
        return {"round": self.rounds, "at": now.isoformat()}


def _kind(compute, interval=HOUR, retry=None, name="test"):
    retry = retry or min(interval, dt.timedelta(minutes=10))
    return snapshots.Kind(name, compute, interval=interval, retry=retry)


@pytest.fixture
def conn(app):
    with db.database.connection_context():
        yield


def test_nothing_stored_yet(conn):
    assert snapshots.load("test") is None


def test_refresh_stores_and_computes_each_round_once(conn):
    compute = Counter()
    kind = _kind(compute)
    now = utcnow()
    stored = snapshots.refresh(kind, now)
    assert stored == snapshots.Snapshot({"round": 1, "at": now.isoformat()}, now, now + HOUR)
    assert snapshots.load("test") == stored
    # Not due again before the interval is over, whoever asks.
    assert snapshots.refresh(kind, now) is None
    assert snapshots.refresh(kind, now + HOUR - dt.timedelta(microseconds=1)) is None
    assert compute.rounds == 1
    later = now + HOUR
    assert snapshots.refresh(kind, later).data == {"round": 2, "at": later.isoformat()}
    assert snapshots.load("test").computed_at == later


def test_concurrent_claims_compute_once(conn):
    """Two processes wanting the same round (here: threads with connections of their own)."""
    compute = Counter()
    kind = _kind(lambda now: (time.sleep(0.2), compute(now))[1])
    now = utcnow()
    results = []

    def claim():
        with db.database.connection_context():
            results.append(snapshots.refresh(kind, now))

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert compute.rounds == 1
    assert sorted(result is None for result in results) == [False, True, True, True]


def test_a_failed_round_keeps_the_last_result_and_is_retried(conn):
    compute = Counter()
    kind = _kind(compute)
    now = utcnow()
    first = snapshots.refresh(kind, now)
    compute.fail = snapshots.Failed("feed down")
    later = now + HOUR
    with pytest.raises(snapshots.Failed):
        snapshots.refresh(kind, later)
    assert snapshots.load("test") == snapshots.Snapshot(
        first.data, now, later + dt.timedelta(minutes=10)
    )
    assert snapshots.refresh(kind, later + dt.timedelta(minutes=9)) is None
    compute.fail = None
    retried = later + dt.timedelta(minutes=10)
    assert snapshots.refresh(kind, retried).computed_at == retried
    assert compute.rounds == 3


def test_a_round_that_outlived_its_claim_is_not_stored(conn):
    """Its process stalled past `retry`; another took the round over and stored it first."""
    now = utcnow()
    late = now + dt.timedelta(minutes=11)
    taken_over = _kind(Counter())

    def stalled(round_time):
        snapshots.refresh(taken_over, late)
        return {"stale": True}

    assert snapshots.refresh(_kind(stalled), now).data == {"stale": True}
    assert snapshots.load("test").data == {"round": 1, "at": late.isoformat()}


def test_a_much_shortened_interval_makes_the_stored_round_due(conn):
    compute = Counter()
    now = utcnow()
    snapshots.refresh(_kind(compute, interval=HOUR), now)
    assert snapshots.refresh(_kind(compute, interval=dt.timedelta(minutes=45)), now) is None
    minute = dt.timedelta(minutes=1)
    assert snapshots.refresh(_kind(compute, interval=minute), now) is not None
    assert compute.rounds == 2


def test_a_round_stored_just_after_this_process_read_the_clock_is_not_redone(conn):
    compute = Counter()
    kind = _kind(compute)
    before = utcnow()
    snapshots.refresh(kind, before + dt.timedelta(seconds=1))  # another process, a moment later
    assert snapshots.refresh(kind, before) is None
    assert compute.rounds == 1


def test_retry_is_at_most_the_interval():
    with pytest.raises(ValueError, match="retry"):
        snapshots.Kind("x", Counter(), interval=dt.timedelta(seconds=1), retry=HOUR)


def _due_in(delta):
    DeploymentSnapshot.update(refresh_after=utcnow() + delta).execute()


def test_current_computes_only_when_missing_or_overdue(conn):
    compute = Counter()
    kind = _kind(compute)
    grace = dt.timedelta(minutes=1)
    first = snapshots.current(kind, grace)
    assert compute.rounds == 1
    assert snapshots.current(kind, grace) == first
    _due_in(-dt.timedelta(seconds=30))  # within the grace a background process would take
    assert snapshots.current(kind, grace).data == first.data
    assert compute.rounds == 1
    _due_in(-dt.timedelta(minutes=2))  # overdue: no background process keeps it fresh
    assert snapshots.current(kind, grace).data["round"] == 2
    assert snapshots.load("test").data["round"] == 2


def test_current_while_another_process_computes_the_first_round(conn):
    """Answered at once, without waiting for it or storing."""
    compute = Counter()
    DeploymentSnapshot.insert(kind="test", refresh_after=utcnow() + HOUR).execute()
    assert snapshots.current(_kind(compute), dt.timedelta(0)).data["round"] == 1
    assert snapshots.load("test") is None


def _run_loops(kind, until, loops=1, timeout=30.0) -> list[threading.Thread]:
    """Run `loops` background loops of `kind` until `until()` holds or `timeout` is over."""
    stop = threading.Event()
    threads = [snapshots.start_thread(kind, stop) for _ in range(loops)]
    try:
        deadline = time.monotonic() + timeout
        while not until() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
    return threads


def test_run_keeps_it_fresh_and_stops(conn):
    compute = Counter()
    kind = _kind(compute, interval=dt.timedelta(milliseconds=100))
    [thread] = _run_loops(kind, until=lambda: compute.rounds >= 3)
    assert compute.rounds >= 3
    assert not thread.is_alive()
    assert thread.name == "test"
    assert snapshots.load("test").data["round"] == compute.rounds


def test_run_logs_a_failed_round_in_one_line_and_retries(make_app, tmp_path):
    log = tmp_path / "log.json"
    make_app(CODER_LOGGING_JSON=str(log))
    compute = Counter(fail=snapshots.Failed("feed down"))
    kind = _kind(compute, interval=HOUR, retry=dt.timedelta(milliseconds=100))
    _run_loops(kind, until=lambda: compute.rounds >= 2)
    assert compute.rounds >= 2
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    failures = [e for e in entries if e["logger"] == "pycoderd.background"]
    assert len(failures) >= 2
    assert all(e["msg"] == "test: feed down" and "error" not in e for e in failures)
    with db.database.connection_context():
        assert snapshots.load("test") is None


def test_two_servers_share_one_round(conn):
    """The background processes of two servers on one database: one computation per round."""
    compute = Counter()
    kind = _kind(compute, interval=dt.timedelta(milliseconds=500))
    _run_loops(kind, until=lambda: False, loops=2, timeout=1.6)
    # Rounds at 0, 0.5, 1.0, 1.5 s (a loaded machine may do fewer), never one per server.
    assert 1 <= compute.rounds <= 4
