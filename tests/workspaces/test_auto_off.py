"""Auto-off: the sweep stops ON workspaces unused for longer than their organization's threshold."""

from __future__ import annotations

import datetime as dt
import json
import threading

import pytest

from app import db
from app.models import AuditLog, Organization, ProvisionerJob, Workspace
from app.models.base import utcnow
from app.services import activity, auto_off, organizations
from tests.devurls.conftest import make_workspace
from tests.factories import make_user

HOUR_MS = 3_600_000


def _threshold(ms: int) -> None:
    with db.database.connection_context():
        Organization.update(auto_off_threshold_ms=ms).where(
            Organization.id == organizations.default_organization().id
        ).execute()


def _workspace(name: str, *, status="ON", idle: dt.timedelta, **marks) -> Workspace:
    owner = make_user(username=f"owner-{name}")
    workspace = make_workspace(owner, name=name, status=status)
    with db.database.connection_context():
        built = utcnow() - idle
        Workspace.update(last_built_at=built, updated_at=built, container_id="c", **marks).where(
            Workspace.id == workspace.id
        ).execute()
        return Workspace.get_by_id(workspace.id)


def _stop_jobs(workspace_id: str) -> list[ProvisionerJob]:
    with db.database.connection_context():
        return list(
            ProvisionerJob.select().where(
                (ProvisionerJob.workspace == workspace_id) & (ProvisionerJob.kind == "stop")
            )
        )


def _sweep(now=None) -> list[str]:
    with db.database.connection_context():
        return auto_off.sweep(now)


def test_an_idle_workspace_is_stopped_as_the_systems_action(app):
    _threshold(HOUR_MS)
    idle = _workspace("idle", idle=dt.timedelta(hours=2))
    fresh = _workspace("fresh", idle=dt.timedelta(minutes=30))
    used = _workspace(
        "used", idle=dt.timedelta(hours=5), last_connection_at=utcnow() - dt.timedelta(minutes=5)
    )
    off = _workspace("off", status="OFF", idle=dt.timedelta(hours=5))
    assert _sweep() == [idle.id]
    [job] = _stop_jobs(idle.id)
    assert (job.status, job.initiator_id) == ("pending", None)
    for other in (fresh, used, off):
        assert _stop_jobs(other.id) == []
    with db.database.connection_context():
        [entry] = AuditLog.select().where(AuditLog.action == "stop")
    assert (entry.user_id, entry.username, entry.user_agent) == (None, "", "pycoderd")
    assert (entry.resource_type, entry.resource_id, entry.resource_target) == (
        "environment",
        idle.id,
        "idle",
    )
    assert "auto_off_threshold" in json.loads(entry.diff)["auto_off"]["new"]
    # The stop is queued: the next sweep leaves the workspace to its job.
    assert _sweep() == []
    assert len(_stop_jobs(idle.id)) == 1


def test_a_threshold_of_zero_means_never(app):
    _threshold(0)
    idle = _workspace("idle", idle=dt.timedelta(days=30))
    assert _sweep() == []
    assert _stop_jobs(idle.id) == []


def test_an_open_session_is_never_idle_however_short_the_threshold(app):
    _threshold(1)  # 1 ms
    workspace = _workspace("box", idle=dt.timedelta(hours=1))
    session = activity.Session(workspace.id, workspace.user_id, "ssh")
    session.beat()
    # Right up to the lease (a few heartbeats) after the last beat, the workspace is in use.
    lease = dt.timedelta(seconds=activity.SESSION_LEASE_SECONDS)
    assert _sweep(utcnow() + lease - dt.timedelta(seconds=1)) == []
    # Once the session is gone and the lease has passed, it is idle.
    assert _sweep(utcnow() + lease + dt.timedelta(seconds=1)) == [workspace.id]


def test_a_workspace_used_after_it_was_read_is_not_stopped(app):
    _threshold(HOUR_MS)
    workspace = _workspace("box", idle=dt.timedelta(hours=2))
    with db.database.connection_context():
        [candidate] = auto_off._candidates()
        activity.mark_used(workspace.id, workspace.user_id)
        threshold = auto_off.effective_threshold(HOUR_MS)
        assert not auto_off._claim_and_stop(candidate, threshold, utcnow())
    assert _stop_jobs(workspace.id) == []


@pytest.mark.parametrize("sweepers", [2, 4])
def test_each_workspace_is_stopped_once_however_many_processes_sweep(app, sweepers):
    _threshold(HOUR_MS)
    workspace = _workspace("box", idle=dt.timedelta(hours=2))
    with db.database.connection_context():
        [candidate] = auto_off._candidates()
    threshold = auto_off.effective_threshold(HOUR_MS)
    start = threading.Barrier(sweepers)
    results = []

    def sweeper():
        start.wait()
        with db.database.connection_context():
            results.append(auto_off._claim_and_stop(candidate, threshold, utcnow()))

    threads = [threading.Thread(target=sweeper) for _ in range(sweepers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == [False] * (sweepers - 1) + [True]
    assert len(_stop_jobs(workspace.id)) == 1
    with db.database.connection_context():
        assert AuditLog.select().where(AuditLog.action == "stop").count() == 1


def test_the_poll_interval_is_coders_option(make_app):
    assert make_app().config["SETTINGS"]["autobuild_poll_interval"] == 60 * 10**9
    app = make_app(CODER_AUTOBUILD_POLL_INTERVAL="2s")
    assert app.config["SETTINGS"]["autobuild_poll_interval"] == 2 * 10**9
