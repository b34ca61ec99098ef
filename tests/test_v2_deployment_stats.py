"""GET /api/v2/deployment/stats: workspace states and proxy traffic from real rows."""

import datetime as dt
import threading
import time

import pytest

from app import db
from app.models import Image, ProvisionerJob, ProxyTrafficSample, Registry, Workspace
from app.models.base import utcnow
from app.services import deployment, organizations, snapshots
from tests.factories import auth_headers, make_token, make_user


def _parse(text):
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=None)


@pytest.fixture
def admin_headers(app):
    return auth_headers(make_token(make_user("site-admin")))


def _workspaces(states):
    """Real workspace rows: (container_status, active job status or None) per workspace."""
    with db.database.connection_context():
        owner = make_user()
        org = organizations.default_organization()
        registry = Registry.create(
            organization=org, friendly_name="local", registry="127.0.0.1:5000"
        )
        image = Image.create(organization=org, registry=registry, repository="busybox")
        for n, (container_status, job_status) in enumerate(states):
            workspace = Workspace.create(
                name=f"ws{n}",
                user=owner,
                organization=org,
                image=image,
                container_status=container_status,
            )
            ProvisionerJob.create(workspace=workspace, kind="build", status="succeeded")
            if job_status:
                ProvisionerJob.create(workspace=workspace, kind="build", status=job_status)


def _traffic(samples):
    """(minutes ago, rx, tx, latency_ms) per proxied request."""
    now = utcnow()
    with db.database.connection_context():
        for minutes, rx, tx, latency in samples:
            ProxyTrafficSample.create(
                time=now - dt.timedelta(minutes=minutes),
                workspace_id="00000000-0000-0000-0000-000000000000",
                rx_bytes=rx,
                tx_bytes=tx,
                latency_ms=latency,
            )


@pytest.mark.parametrize("roles", [(), ("site-manager",), ("site-auditor",)])
def test_stats_are_for_site_admins_only(client, roles):
    token = make_token(make_user(*roles))
    response = client.get("/api/v2/deployment/stats", headers=auth_headers(token))
    assert response.status_code == 403
    assert response.json == {"message": "Forbidden."}
    assert client.get("/api/v2/deployment/stats").status_code == 401


def test_empty_deployment(client, admin_headers):
    body = client.get("/api/v2/deployment/stats", headers=admin_headers).json
    assert body["workspaces"] == {
        "pending": 0,
        "building": 0,
        "running": 0,
        "failed": 0,
        "stopped": 0,
        "connection_latency_ms": {"P50": -1, "P95": -1},
        "rx_bytes": 0,
        "tx_bytes": 0,
    }
    assert body["session_count"] == {"vscode": 0, "ssh": 0, "jetbrains": 0, "reconnecting_pty": 0}


def test_counts_and_traffic(make_app):
    client = make_app(CODER_AGENT_STATS_REFRESH_INTERVAL="1h").test_client()
    headers = auth_headers(make_token(make_user("site-admin")))
    _workspaces(
        [
            ("ON", None),
            ("ON", None),
            ("ON", None),
            ("OFF", None),
            ("FAILED", None),
            ("CREATING", "pending"),
            ("OFF", "running"),
            ("ON", "pending"),
            ("UNKNOWN", None),
        ]
    )
    # Latencies 10, 20, …, 100 in the window; one old sample outside it.
    _traffic([(1, 100, 1000, 10.0 * n) for n in range(1, 11)] + [(20, 5, 5, 9999.0)])
    body = client.get("/api/v2/deployment/stats", headers=headers).json
    assert body["workspaces"] == {
        "pending": 2,
        "building": 1,
        "running": 3,
        "failed": 1,
        "stopped": 1,
        "connection_latency_ms": {"P50": 55.0, "P95": 95.5},
        "rx_bytes": 1000,
        "tx_bytes": 10000,
    }
    collected = _parse(body["collected_at"])
    assert _parse(body["aggregated_from"]) == collected - dt.timedelta(minutes=15)
    assert _parse(body["next_update_at"]) == collected + dt.timedelta(hours=1)

    # Until the next update the cached answer stands.
    _traffic([(0, 1, 1, 1.0)])
    again = client.get("/api/v2/deployment/stats", headers=headers).json
    assert again == body


def test_the_api_answers_the_stored_stats(make_app):
    """Whatever computed them (the background process), workers answer the stored round."""
    client = make_app(CODER_AGENT_STATS_REFRESH_INTERVAL="1h").test_client()
    headers = auth_headers(make_token(make_user("site-admin")))
    computed = utcnow() - dt.timedelta(minutes=10)
    with db.database.connection_context():
        snapshots.refresh(deployment.stats_kind(3600 * 10**9), computed)
    _traffic([(0, 7, 8, 3.0)])  # after the round: not in the answer until the next one
    for _ in range(2):
        body = client.get("/api/v2/deployment/stats", headers=headers).json
        assert _parse(body["collected_at"]) == computed
        assert _parse(body["next_update_at"]) == computed + dt.timedelta(hours=1)
        assert body["workspaces"]["rx_bytes"] == 0


def _wait_for_traffic(client, headers, rx_bytes):
    deadline = time.monotonic() + 30
    while True:
        latest = client.get("/api/v2/deployment/stats", headers=headers).json
        if latest["workspaces"]["rx_bytes"] == rx_bytes or time.monotonic() > deadline:
            return latest
        time.sleep(0.05)


def test_recomputed_on_demand_when_overdue(make_app):
    """No background process (the test client, `flask run`): a request past the next update
    (and a grace of one second) computes and stores them."""
    app = make_app(CODER_AGENT_STATS_REFRESH_INTERVAL="200ms")
    client = app.test_client()
    headers = auth_headers(make_token(make_user("site-admin")))
    first = client.get("/api/v2/deployment/stats", headers=headers).json
    assert first["workspaces"]["rx_bytes"] == 0
    assert _parse(first["next_update_at"]) - _parse(first["collected_at"]) == dt.timedelta(
        milliseconds=200
    )
    _traffic([(0, 7, 8, 3.0)])
    _workspaces([("ON", None)])
    latest = _wait_for_traffic(client, headers, 7)
    assert latest["workspaces"]["rx_bytes"] == 7
    assert latest["workspaces"]["running"] == 1
    assert latest["workspaces"]["connection_latency_ms"] == {"P50": 3.0, "P95": 3.0}
    collected = _parse(latest["collected_at"])
    assert collected >= _parse(first["next_update_at"]) + deployment.OVERDUE_GRACE
    with db.database.connection_context():
        assert snapshots.load(deployment.STATS_SNAPSHOT).computed_at == collected


def test_the_background_loop_keeps_them_fresh(make_app):
    app = make_app(CODER_AGENT_STATS_REFRESH_INTERVAL="200ms")
    client = app.test_client()
    headers = auth_headers(make_token(make_user("site-admin")))
    stop = threading.Event()
    thread = deployment.start_stats_thread(app, stop)
    try:
        first = client.get("/api/v2/deployment/stats", headers=headers).json
        _traffic([(0, 7, 8, 3.0)])
        latest = _wait_for_traffic(client, headers, 7)
    finally:
        stop.set()
        thread.join(10)
    assert latest["workspaces"]["rx_bytes"] == 7
    # Fresh within an interval and its grace: the loop refreshed them, not the request.
    collected = _parse(latest["collected_at"])
    assert collected < _parse(first["next_update_at"]) + deployment.OVERDUE_GRACE
