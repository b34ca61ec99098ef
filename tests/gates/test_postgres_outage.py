"""PostgreSQL restarted under load: 503 JSON in each version's envelope, then recovery in place."""

from __future__ import annotations

import threading
import time

import pytest

from tests.gates import load
from tests.support import live_server

UNAVAILABLE_V2 = "The database is unavailable. Try again shortly."


@pytest.fixture
def server(tmp_path, private_postgres):
    url = private_postgres.create_database("pycoderd")
    running = live_server.start(tmp_path, extra_env={"CODER_PG_CONNECTION_URL": url}, workers=2)
    try:
        running.cli("users", "create", "outage", "--email", "outage@example.com")
        running.token = running.cli("tokens", "create", "load", "--user", "outage")
        yield running
    finally:
        live_server.stop(running)


def _worker_pids(master_pid: int) -> set[int]:
    with open(f"/proc/{master_pid}/task/{master_pid}/children") as handle:
        return {int(pid) for pid in handle.read().split()}


@pytest.mark.backend("postgres")
def test_restart_answers_503_then_recovers(server, private_postgres):
    paths = ("/api/v0/users/me", "/api/v2/users/me")

    def get(session, index):
        return session.get(
            server.url + paths[index % 2],
            headers={"Session-Token": server.token, "Coder-Session-Token": server.token},
            timeout=15,
        )

    assert get(__import__("requests").Session(), 0).status_code == 200
    workers = _worker_pids(server.process.pid)
    stop = threading.Event()
    outcome: list[load.Outcome] = []
    loader = threading.Thread(
        target=lambda: outcome.append(
            load.run(get, total=10**6, clients=4, deadline_seconds=90, stop=stop)
        )
    )
    loader.start()
    try:
        time.sleep(1.5)
        private_postgres.stop()
        down_at = time.monotonic()
        time.sleep(3)
        restart_at = time.monotonic()
        private_postgres.start()
        up_at = time.monotonic()
        time.sleep(5)
    finally:
        stop.set()
        loader.join(timeout=60)
    assert not loader.is_alive()
    results = sorted(outcome[0].results, key=lambda r: r.started)

    # Nothing but 200 and 503: no 500, no dropped connection, no hang.
    assert {r.status for r in results} <= {200, 503}, outcome[0].statuses()
    during = [r for r in results if down_at + 0.5 < r.started < restart_at]
    assert during, "no request was made while PostgreSQL was down"
    assert [r for r in during if r.status != 503] == []
    for result in during:
        if paths[result.index % 2].startswith("/api/v2/"):
            assert result.body == {"message": UNAVAILABLE_V2}
        else:
            assert result.body["error"]["code"] == "unavailable"
            assert set(result.body["error"]) == {"msg", "code", "details"}
    # Recovered in place: the last seconds answer 200, from the same master and workers.
    recovered = [r for r in results if r.started > up_at + 2]
    assert len(recovered) > 20 and all(r.status == 200 for r in recovered)
    assert server.process.poll() is None
    assert _worker_pids(server.process.pid) == workers
