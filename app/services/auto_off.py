"""Auto-off: stop workspaces that have been ON and unused for longer than their organization's
`auto_off_threshold` (milliseconds; 0 = never).

A workspace is used when something marks it (app.services.activity): an SSH connection or a
wsep command (for as long as it stays open), a dev URL request, a client's activity push. Its
idle time counts from the latest of `last_connection_at`, `last_opened_at` and `last_built_at`
(a workspace just built gets the whole threshold). An open session marks its workspace every
activity.HEARTBEAT_SECONDS, so a threshold shorter than a few heartbeats is lengthened to
activity.SESSION_LEASE_SECONDS: an open session never looks idle.

A loop of the server's background process sweeps every CODER_AUTOBUILD_POLL_INTERVAL (Coder's
option; 1m by default). However many processes sweep, each workspace is stopped once: the stop
is claimed by a conditional UPDATE of the workspace row (still ON, not changed since it was read,
still unused) in the transaction that queues the stop job and writes its audit entry, recorded as
the system's action (no user; user agent `pycoderd`).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading

from peewee import fn

from app.db import database
from app.models import Organization, ProvisionerJob, Workspace
from app.models.base import utcnow
from app.provisioner import jobs
from app.services import activity, audit
from app.services.context import SYSTEM

log = logging.getLogger("pycoderd.auto_off")

RESOURCE = "environment"
NANOSECONDS = 1_000_000_000
MIN_POLL_SECONDS = 0.5


def idle_since(workspace: Workspace) -> dt.datetime:
    marks = [
        t
        for t in (workspace.last_connection_at, workspace.last_opened_at, workspace.last_built_at)
        if t is not None
    ]
    return max(marks) if marks else workspace.updated_at


def effective_threshold(threshold_ms: int) -> dt.timedelta:
    return max(
        dt.timedelta(milliseconds=threshold_ms),
        dt.timedelta(seconds=activity.SESSION_LEASE_SECONDS),
    )


def _candidates():
    """ON workspaces whose organization has a threshold and that no job is changing."""
    busy = ProvisionerJob.select(ProvisionerJob.id).where(
        (ProvisionerJob.workspace == Workspace.id) & ProvisionerJob.status.in_(jobs.ACTIVE)
    )
    return (
        Workspace.select(Workspace, Organization)
        .join(Organization)
        .where(
            (Workspace.container_status == "ON")
            & (Organization.auto_off_threshold_ms > 0)
            & ~fn.EXISTS(busy)
        )
    )


def _unused_before(column, cutoff: dt.datetime):
    return column.is_null() | (column <= cutoff)


def _claim_and_stop(workspace: Workspace, threshold: dt.timedelta, now: dt.datetime) -> bool:
    """Queue the stop if this process is the one to take it; False when another did (or the
    workspace changed, or was used, since it was read)."""
    cutoff = now - threshold
    with database.atomic():
        claimed = (
            Workspace.update(updated_at=now)
            .where(
                (Workspace.id == workspace.id)
                & (Workspace.container_status == "ON")
                & (Workspace.updated_at == workspace.updated_at)
                & _unused_before(Workspace.last_connection_at, cutoff)
                & _unused_before(Workspace.last_opened_at, cutoff)
                & _unused_before(Workspace.last_built_at, cutoff)
            )
            .execute()
        )
        if not claimed:
            return False
        jobs.enqueue(workspace, "stop", None)
        threshold_ms = workspace.organization.auto_off_threshold_ms
        audit.record(
            SYSTEM,
            action="stop",
            resource_type=RESOURCE,
            resource_id=workspace.id,
            resource_target=workspace.name,
            organization_id=workspace.organization_id,
            changes=audit.diff(
                {},
                {
                    "auto_off": f"unused since {idle_since(workspace):%Y-%m-%dT%H:%M:%SZ}, "
                    f"longer than the organization's auto_off_threshold ({threshold_ms} ms)"
                },
            ),
        )
    return True


def sweep(now: dt.datetime | None = None) -> list[str]:
    """Stop every workspace that has been ON and unused for longer than its threshold; the ids
    of those this call stopped."""
    now = now or utcnow()
    stopped = []
    for workspace in list(_candidates()):
        threshold = effective_threshold(workspace.organization.auto_off_threshold_ms)
        if now - idle_since(workspace) <= threshold:
            continue
        if _claim_and_stop(workspace, threshold, now):
            log.info("auto-off: stopping workspace %s (%s)", workspace.id, workspace.name)
            stopped.append(workspace.id)
    return stopped


def start_thread(app, stop: threading.Event) -> threading.Thread:
    """The sweep, every CODER_AUTOBUILD_POLL_INTERVAL (a loop of the background process)."""
    interval = max(
        MIN_POLL_SECONDS, app.config["SETTINGS"]["autobuild_poll_interval"] / NANOSECONDS
    )

    def run() -> None:
        while not stop.wait(interval):
            try:
                with database.connection_context():
                    sweep()
            except Exception:
                log.exception("auto-off sweep failed")

    thread = threading.Thread(target=run, name="auto-off", daemon=True)
    thread.start()
    return thread
