"""The provisioner job queue, in the database: enqueue, acquire atomically, heartbeat, finish.

Any number of daemons in any number of processes share one queue. A job is taken by exactly one
daemon: PostgreSQL locks the candidate row (`SELECT … FOR UPDATE SKIP LOCKED`), and on both
databases the claim itself is a conditional UPDATE that only succeeds while the row is still in
the state the daemon saw. A running job whose heartbeat is older than the timeout belongs to a
dead daemon and may be taken over; writes by a daemon that lost its job change nothing, because
every one is conditioned on its worker id.
"""

from __future__ import annotations

import datetime as dt

from peewee import fn

from app import db
from app.db import database
from app.models import BuildLog, ProvisionerJob, Workspace
from app.models.base import utcnow

KINDS = ("build", "stop", "delete")
ACTIVE = ("pending", "running")
HEARTBEAT_TIMEOUT = 60.0  # seconds without a heartbeat before a running job is taken over


def enqueue(workspace: Workspace, kind: str, initiator_id: str | None = None) -> ProvisionerJob:
    """Queue a job; it supersedes the workspace's earlier ones. Call inside a transaction."""
    if kind not in KINDS:
        raise ValueError(f"unknown job kind {kind!r}")
    now = utcnow()
    ProvisionerJob.update(
        status="canceled", completed_at=now, updated_at=now, error="superseded by a newer job"
    ).where(
        (ProvisionerJob.workspace == workspace.id) & (ProvisionerJob.status == "pending")
    ).execute()
    ProvisionerJob.update(cancel_requested=True, updated_at=now).where(
        (ProvisionerJob.workspace == workspace.id) & (ProvisionerJob.status == "running")
    ).execute()
    return ProvisionerJob.create(workspace=workspace.id, kind=kind, initiator_id=initiator_id)


def updating_ids(workspace_ids) -> set[str]:
    """The workspaces among these with a job queued or running."""
    ids = list(workspace_ids)
    if not ids:
        return set()
    query = (
        ProvisionerJob.select(ProvisionerJob.workspace)
        .where(ProvisionerJob.workspace.in_(ids) & ProvisionerJob.status.in_(ACTIVE))
        .distinct()
    )
    return {row.workspace_id for row in query}


def latest(workspace_id: str) -> ProvisionerJob | None:
    return (
        ProvisionerJob.select()
        .where(ProvisionerJob.workspace == workspace_id)
        .order_by(ProvisionerJob.created_at.desc(), ProvisionerJob.id.desc())
        .first()
    )


def _acquirable(stale_before: dt.datetime):
    other = ProvisionerJob.alias("other")
    busy = other.select(other.id).where(
        (other.workspace == ProvisionerJob.workspace)
        & (other.status == "running")
        & (other.id != ProvisionerJob.id)
    )
    waiting = (ProvisionerJob.status == "pending") & ~fn.EXISTS(busy)
    abandoned = (ProvisionerJob.status == "running") & (ProvisionerJob.heartbeat_at < stale_before)
    return waiting | abandoned


def acquire(worker_id: str, timeout: float = HEARTBEAT_TIMEOUT) -> ProvisionerJob | None:
    """Claim the oldest job that is waiting, or abandoned by a dead daemon; None when idle.

    A pending job waits while another job of its workspace runs, so one workspace's jobs run
    one after the other.
    """
    now = utcnow()
    query = (
        ProvisionerJob.select()
        .where(_acquirable(now - dt.timedelta(seconds=timeout)))
        .order_by(ProvisionerJob.created_at, ProvisionerJob.id)
        .limit(1)
    )
    if db.is_postgres():
        with database.atomic():
            candidate = query.for_update(skip_locked=True).first()
            if candidate is None or not _claim(candidate, worker_id, now):
                return None
    else:
        # A plain read while the queue is idle (no write lock on SQLite); the claim below is
        # one conditional UPDATE, atomic on its own.
        candidate = query.first()
        if candidate is None or not _claim(candidate, worker_id, now):
            return None
    job = ProvisionerJob.get_by_id(candidate.id)
    job.taken_over_from = candidate.worker_id if candidate.status == "running" else ""
    return job


def _claim(candidate: ProvisionerJob, worker_id: str, now: dt.datetime) -> bool:
    """Take the job, only if nobody changed it since we read it."""
    return (
        ProvisionerJob.update(
            status="running",
            worker_id=worker_id,
            started_at=now,
            heartbeat_at=now,
            updated_at=now,
        )
        .where(
            (ProvisionerJob.id == candidate.id)
            & (ProvisionerJob.status == candidate.status)
            & (ProvisionerJob.worker_id == candidate.worker_id)
            & (ProvisionerJob.cancel_requested == candidate.cancel_requested)
            & _same(ProvisionerJob.heartbeat_at, candidate.heartbeat_at)
        )
        .execute()
        == 1
    )


def _same(column, value):
    return column.is_null() if value is None else column == value


def heartbeat(job_id: str, worker_id: str) -> str:
    """Refresh the lease: "ok", "cancel" (a newer job or a delete wants it stopped) or "lost"."""
    now = utcnow()
    updated = (
        ProvisionerJob.update(heartbeat_at=now)
        .where(
            (ProvisionerJob.id == job_id)
            & (ProvisionerJob.worker_id == worker_id)
            & (ProvisionerJob.status == "running")
        )
        .execute()
    )
    if updated != 1:
        return "lost"
    job = ProvisionerJob.get_or_none(ProvisionerJob.id == job_id)
    if job is None:
        return "lost"
    return "cancel" if job.cancel_requested else "ok"


def finish(job_id: str, worker_id: str, status: str, error: str = "") -> bool:
    """Mark a job succeeded, failed or canceled, if it is still ours."""
    now = utcnow()
    return (
        ProvisionerJob.update(status=status, error=error, completed_at=now, updated_at=now)
        .where(
            (ProvisionerJob.id == job_id)
            & (ProvisionerJob.worker_id == worker_id)
            & (ProvisionerJob.status == "running")
        )
        .execute()
        == 1
    )


def log(job: ProvisionerJob, type_: str, msg: str) -> BuildLog:
    return BuildLog.create(workspace=job.workspace_id, job=job.id, type=type_, msg=msg)


def logs_after(job_id: str, after: tuple | None = None, limit: int = 500) -> list[BuildLog]:
    """Log lines of one job in order, after the (time, id) cursor when given."""
    query = BuildLog.select().where(BuildLog.job == job_id)
    if after is not None:
        when, line_id = after
        query = query.where(
            (BuildLog.time > when) | ((BuildLog.time == when) & (BuildLog.id > line_id))
        )
    return list(query.order_by(BuildLog.time, BuildLog.id).limit(limit))
