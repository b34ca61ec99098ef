"""Workspace activity: what marks a workspace used, and its user active for the metrics.

A workspace is used when someone reaches it: an SSH connection or a wsep command (for as long as
it stays open), a dev URL request, or a client's activity push (`POST
/api/private/metrics/usage/push`). Each sets the workspace's `last_opened_at` and
`last_connection_at` and marks the user active today (the active-users metrics count them).

An open session marks its workspace used when it opens, every HEARTBEAT_SECONDS while it stays
open, and when it closes. Auto-off (app.services.auto_off) therefore never sees an open session
as idle for longer than a heartbeat, and counts idleness from the moment the last one ended.
"""

from __future__ import annotations

import datetime as dt
import time

from app import errors
from app.db import database
from app.models import Workspace
from app.models.base import utcnow
from app.services import api_keys, workspaces
from app.services.context import Caller

HEARTBEAT_SECONDS = 10.0  # how often an open session marks its workspace used
# How long after its last heartbeat a session's workspace may be taken for unused: a few
# heartbeats, so that a slow database or a busy worker never turns an open session idle.
SESSION_LEASE_SECONDS = 3 * HEARTBEAT_SECONDS
SOURCE_MAX = 64


def mark_used(workspace_id: str, user_id: str | None, now: dt.datetime | None = None) -> None:
    """The workspace was opened and connected to now; the user (if any) was active today."""
    now = now or utcnow()
    with database.atomic():
        Workspace.update(last_opened_at=now, last_connection_at=now).where(
            Workspace.id == workspace_id
        ).execute()
        if user_id:
            api_keys.record_activity(user_id, now.date())


def push(caller: Caller, workspace_id: str, source: str) -> None:
    """A client reports use of the caller's own workspace (`coder sync`, an editor...).

    404 for a workspace the caller may not see, 403 for one they see but do not own: activity is
    the owner's to report. Not audited: clients push it every few minutes and it changes nothing
    but the two timestamps.
    """
    workspace = workspaces.get_visible(caller.user, workspace_id)
    if workspace.user_id != caller.user.id:
        raise errors.Forbidden("Only the workspace's owner reports activity on it.")
    if not source.strip() or len(source) > SOURCE_MAX:
        raise errors.ValidationFailed(
            validations=[("source", f"must be 1-{SOURCE_MAX} characters naming the client")]
        )
    mark_used(workspace.id, caller.user.id)


class Session:
    """An open SSH connection or wsep command: its workspace stays used while it lasts.

    The owner calls `beat()` when it opens and then as often as it likes (it writes only when a
    heartbeat is due) and `close()` once at the end. They run outside
    requests (the SSH gateway's pool, a WebSocket's thread) and hold a connection of their own.
    """

    def __init__(self, workspace_id: str, user_id: str | None, kind: str):
        self.workspace_id = workspace_id
        self.user_id = user_id
        self.kind = kind  # ssh | wsep: for logs
        self.closed = False
        self._next_beat = 0.0

    def _mark(self) -> None:
        with database.connection_context():
            mark_used(self.workspace_id, self.user_id)

    @property
    def beat_due(self) -> bool:
        return not self.closed and time.monotonic() >= self._next_beat

    def beat(self) -> None:
        if self.beat_due:
            self._mark()
            self._next_beat = time.monotonic() + HEARTBEAT_SECONDS

    def close(self) -> None:
        """The session ended: idleness counts from now."""
        if not self.closed:
            self.closed = True
            self._mark()
