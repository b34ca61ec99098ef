"""watch-update: the latest build's log over a WebSocket, as the classic CLI's `--follow` reads it.

One text message per log line (`{id, workspace_id, build_id, time, type, msg}`), the same lines
as `GET /api/v0/workspaces/{id}/builds/latest/logs?follow=true`: a finished build replays its
log, a running one streams as it goes. The client stops at `done` and takes anything else as
fatal, so the server closes (1000) right after `done`; a build that ended without one (it failed:
its last line is the `error`) closes with 1011 and the reason, and a workspace never built closes
at once (1000, "no build").
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable

from app import websocket_server

SEND_TIMEOUT = 30.0  # seconds a client may leave a line unread before the session ends


class Watch:
    """`handler(connection)` for app.websocket_server: sends `lines` until `done`."""

    def __init__(self, lines: Iterable[dict], serialize: Callable[[dict], dict]):
        self.lines = lines
        self.serialize = serialize

    def __call__(self, conn: websocket_server.Connection) -> None:
        sent = 0
        last = None
        for line in self.lines:
            if websocket_server.stopping():
                conn.close(1001, "the server is stopping")
                return
            if conn.wait_readable(0):
                conn.receive()  # pings and the client's close; it sends nothing else
            if conn.closed:
                return
            conn.send_text(json.dumps(self.serialize(line)))
            if not conn.flush(timeout=SEND_TIMEOUT):
                return
            sent, last = sent + 1, line
            if line["type"] == "done":
                conn.close(1000)
                return
        if not sent:
            conn.close(1000, "no build")
        else:
            reason = last["msg"] if last["type"] == "error" else "ended without done"
            conn.close(1011, f"the build failed: {reason}")
