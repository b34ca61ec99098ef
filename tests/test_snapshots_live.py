"""A real `pycoderd server` with 2 workers: stats and update check computed once, in its
background process, and answered alike by both workers."""

import datetime as dt
import http.client
import json
import sqlite3
import time

from tests.support import live_server

ENDPOINTS = ("/api/v2/deployment/stats", "/api/v2/updatecheck")


def _stored(server) -> dict:
    """kind -> (data, computed_at) of every computed snapshot in the server's database."""
    with sqlite3.connect(server.env["CODER_SQLITE_PATH"], timeout=10) as connection:
        rows = connection.execute(
            "SELECT kind, data, computed_at FROM deployment_snapshot WHERE data IS NOT NULL"
        ).fetchall()
    return {kind: (json.loads(data), computed_at) for kind, data, computed_at in rows}


def _wait_for_snapshots(server, kinds, timeout=30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        stored = _stored(server)
        if set(kinds) <= set(stored) or time.monotonic() > deadline:
            return stored
        time.sleep(0.1)


def _answers_of_each_worker(server, headers, attempts=200) -> dict:
    """{worker pid: {path: [bodies]}}, asking on new connections until both workers answered
    both paths (the kernel decides which worker accepts a connection)."""
    host, port = server.url.removeprefix("http://").split(":")
    answers: dict = {}
    for n in range(attempts):
        path = ENDPOINTS[n % 2]
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            body = json.loads(response.read())
            assert response.status == 200, body
            pid = live_server.worker_serving(server, connection)
        finally:
            connection.close()
        if pid is not None:
            answers.setdefault(pid, {}).setdefault(path, []).append(body)
        if len(answers) == 2 and all(len(paths) == 2 for paths in answers.values()):
            break
    return answers


def test_two_workers_answer_what_the_background_process_computed_once(tmp_path, releases):
    releases.release = {"tag_name": "v99.1.0", "html_url": "https://example.com/r/v99.1.0"}
    server = live_server.start(
        tmp_path,
        extra_env={
            "CODER_UPDATE_CHECK": "true",
            "CODER_UPDATE_CHECK_URL": releases.url,
            "CODER_AGENT_STATS_REFRESH_INTERVAL": "1h",
        },
        workers=2,
    )
    try:
        server.cli("users", "create", "admin", "--email", "a@example.com", "--role", "site-admin")
        headers = {"Session-Token": server.cli("tokens", "create", "t", "--user", "admin")}
        stored = _wait_for_snapshots(server, ("deployment_stats", "update_check"))
        workers = set(live_server.worker_pids(server))
        answers = _answers_of_each_worker(server, headers)
    finally:
        live_server.stop(server)

    assert len(workers) == 2
    assert set(answers) == workers, "both workers must have answered"
    bodies = {path: [] for path in ENDPOINTS}
    for paths in answers.values():
        for path, answered in paths.items():
            bodies[path] += answered
    # Every answer of either worker is the one stored round.
    stats = {json.dumps(body, sort_keys=True) for body in bodies[ENDPOINTS[0]]}
    assert len(stats) == 1
    collected_at = json.loads(stats.pop())["collected_at"]
    stored_at = dt.datetime.fromisoformat(stored["deployment_stats"][1])
    assert collected_at == stored_at.isoformat(timespec="microseconds") + "Z"
    assert all(
        body == {"current": False, "version": "v99.1.0", "url": "https://example.com/r/v99.1.0"}
        for body in bodies[ENDPOINTS[1]]
    )
    # One fetch for the deployment (a day's round), not one per worker.
    assert releases.hits == 1
