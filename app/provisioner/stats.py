"""The stats collector: refreshes each workspace's `latest_stat` from the engine, notices drift."""

from __future__ import annotations

import json
import logging
import threading

from peewee import fn

from app.db import database
from app.models import ProvisionerJob, Workspace
from app.models.base import utcnow
from app.provisioner import engine as engines
from app.provisioner import jobs

log = logging.getLogger("pycoderd.provisioner.stats")

NANOSECONDS = 1_000_000_000
GIB = engines.GIB
REMOVED = "The container was removed outside pycoderd; rebuild the workspace to recreate it."
STOPPED = "The container stopped outside pycoderd (engine status: {status})."
STARTED = "The container was started outside pycoderd."


class StatsCollector:
    def __init__(self, settings, *, engine_factory=None):
        self.settings = settings
        self.engine_factory = engine_factory or (lambda: engines.from_settings(settings))

    @property
    def interval(self) -> float:
        return max(0.5, self.settings["agent_stat_refresh_interval"] / NANOSECONDS)

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(self.interval):
            try:
                self.collect_once()
            except Exception:
                log.exception("collecting workspace stats failed")

    def collect_once(self) -> int:
        """Refresh every built workspace that no job is changing; returns how many."""
        try:
            engine = self.engine_factory()
        except engines.NoEngine:
            return 0
        try:
            with database.connection_context():
                workspaces = list(self._settled())
            for workspace in workspaces:
                self._refresh(engine, workspace)
            return len(workspaces)
        finally:
            engine.close()

    def _settled(self):
        active = ProvisionerJob.select(ProvisionerJob.id).where(
            (ProvisionerJob.workspace == Workspace.id) & ProvisionerJob.status.in_(jobs.ACTIVE)
        )
        return Workspace.select().where(
            (Workspace.container_id != "")
            & Workspace.container_status.in_(("ON", "OFF", "UNKNOWN"))
            & ~fn.EXISTS(active)
        )

    def _refresh(self, engine: engines.Engine, workspace: Workspace) -> None:
        now = utcnow()
        fields = {"stat_time": now}
        try:
            state = engine.state(workspace.container_id, with_stats=True)
        except engines.EngineError as exc:
            fields.update(container_status="UNKNOWN", stat_error=str(exc))
        else:
            fields.update(self._fields_for(workspace, state, now))
        with database.connection_context():
            # Only if nothing changed the workspace meanwhile (a build may just have started).
            Workspace.update(**fields).where(
                (Workspace.id == workspace.id)
                & (Workspace.container_id == workspace.container_id)
                & (Workspace.container_status == workspace.container_status)
            ).execute()

    def _fields_for(self, workspace: Workspace, state: engines.ContainerState, now) -> dict:
        if not state.exists:
            return {
                "container_status": "OFF",
                "container_id": "",
                "network_address": "",
                "stat_error": REMOVED,
                "cpu_usage": 0.0,
                "memory_usage": 0,
                "rebuild_messages": json.dumps(
                    [{"text": REMOVED, "required": True, "auto_off_threshold": False}]
                ),
            }
        if not state.running:
            error = ""
            if workspace.container_status == "ON":
                error = STOPPED.format(status=state.status)
            return {
                "container_status": "OFF",
                "network_address": "",
                "stat_error": error or workspace.stat_error,
                "cpu_usage": 0.0,
                "memory_usage": 0,
            }
        return {
            "container_status": "ON",
            "network_address": state.address,  # a restart outside pycoderd may have moved it
            "last_online": now,
            "stat_error": STARTED if workspace.container_status == "OFF" else "",
            "cpu_usage": state.cpu_usage,
            "memory_usage": state.memory_usage,
            "memory_total": state.memory_total,
            "disk_total": workspace.disk_gb * GIB,
            "disk_used": state.disk_used,
        }


def start_thread(app, stop: threading.Event) -> threading.Thread:
    collector = StatsCollector(app.config["SETTINGS"])
    thread = threading.Thread(target=collector.run, args=(stop,), name="stats", daemon=True)
    thread.start()
    return thread
