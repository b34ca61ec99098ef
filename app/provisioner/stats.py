"""The stats collector: refreshes each workspace's `latest_stat` from the engine, notices drift.

Each resource pool is collected in a thread of its own, through its own engine: a pool the
health check found unreachable (or whose engine cannot be opened) marks its workspaces' stats
with the reason (ON ones become UNKNOWN) without waiting on its engine, and never delays or
touches another pool's workspaces. Once the pool answers again they are refreshed as usual.
"""

from __future__ import annotations

import json
import logging
import threading

from peewee import fn

from app.db import database
from app.models import ProvisionerJob, ResourcePool, Workspace
from app.models.base import utcnow
from app.models.resource_pools import BUILT_IN_ID, UNREACHABLE, built_in
from app.provisioner import engine as engines
from app.provisioner import jobs, pools

log = logging.getLogger("pycoderd.provisioner.stats")

NANOSECONDS = 1_000_000_000
GIB = engines.GIB
REMOVED = "The container was removed outside pycoderd; rebuild the workspace to recreate it."
STOPPED = "The container stopped outside pycoderd (engine status: {status})."
STARTED = "The container was started outside pycoderd."
POOL_DOWN = 'The resource pool "{name}" is unreachable: {error}'
POOL_DOWN_START = 'The resource pool "'


class StatsCollector:
    def __init__(self, settings, *, secret_key: str = "", engine_factory=None):
        self.settings = settings
        self.secret_key = secret_key  # decrypts pools' engine TLS material
        self.engine_factory = engine_factory  # tests: one engine for every workspace

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
        with database.connection_context():
            workspaces = list(self._settled())
            built_in()
            by_id = {pool.id: pool for pool in ResourcePool.select()}
        groups: dict[str, list[Workspace]] = {}
        for workspace in workspaces:
            groups.setdefault(workspace.resource_pool_id or BUILT_IN_ID, []).append(workspace)
        if self.engine_factory is not None:
            self._collect_with(self.engine_factory, workspaces)
            return len(workspaces)
        threads = [
            threading.Thread(
                target=self._collect_pool,
                args=(by_id.get(pool_id), members),
                name=f"stats-{pool_id[:8]}",
                daemon=True,
            )
            for pool_id, members in groups.items()
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return len(workspaces)

    def _collect_pool(self, pool: ResourcePool | None, workspaces: list[Workspace]) -> None:
        try:
            if pool is None:
                return  # deleted meanwhile (a pool with workspaces cannot be)
            if pool.status == UNREACHABLE:
                self._mark_down(pool, workspaces, pool.status_error)
                return
            try:
                opened = pools.engine_for(self.settings, self.secret_key, pool)
            except engines.NoEngine:
                return
            except engines.EngineError as exc:
                self._mark_down(pool, workspaces, str(exc))
                return
            self._collect_with(lambda: opened, workspaces)
        except Exception:
            log.exception("collecting the stats of resource pool %s failed", pool and pool.id)

    def _collect_with(self, open_engine, workspaces: list[Workspace]) -> None:
        try:
            engine = open_engine()
        except engines.NoEngine:
            return
        try:
            for workspace in workspaces:
                self._refresh(engine, workspace)
        finally:
            engine.close()

    def _mark_down(self, pool: ResourcePool, workspaces: list[Workspace], error: str) -> None:
        message = POOL_DOWN.format(name=pool.name, error=error or "no answer")
        for workspace in workspaces:
            fields = {"stat_time": utcnow(), "stat_error": message}
            if workspace.container_status == "ON":
                fields.update(container_status="UNKNOWN", cpu_usage=0.0, memory_usage=0)
            self._save(workspace, fields)

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
        self._save(workspace, fields)

    def _save(self, workspace: Workspace, fields: dict) -> None:
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
            elif not workspace.stat_error.startswith(POOL_DOWN_START):  # the pool is back
                error = workspace.stat_error
            return {
                "container_status": "OFF",
                "network_address": "",
                "stat_error": error,
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
    collector = StatsCollector(app.config["SETTINGS"], secret_key=app.config["SECRET_KEY"])
    thread = threading.Thread(target=collector.run, args=(stop,), name="stats", daemon=True)
    thread.start()
    return thread
