"""Provisioner daemons: poll the job queue, run builds, stops and deletes through the engine."""

from __future__ import annotations

import json
import logging
import os
import random
import socket
import threading
import uuid
from collections.abc import Callable

from app import crypto
from app.db import database
from app.models import Image, ProvisionerJob, Registry, User, Workspace
from app.models.base import utcnow
from app.provisioner import engine as engines
from app.provisioner import jobs, pools

log = logging.getLogger("pycoderd.provisioner")

NANOSECONDS = 1_000_000_000
NO_ADDRESS = "The engine named no address for the container: its dev URLs cannot reach it"


class Canceled(Exception):
    """A newer job (or a delete) asked this one to stop."""


class Lost(Exception):
    """Another daemon took the job over: this one must not write anything more."""


def rebuild_message(text: str) -> str:
    return json.dumps([{"text": text, "required": True, "auto_off_threshold": False}])


class Run:
    """One job being executed: its log, its lease and the workspace it changes."""

    def __init__(self, job: ProvisionerJob, worker_id: str):
        self.job = job
        self.worker_id = worker_id

    def log(self, type_: str, msg: str) -> None:
        with database.connection_context():
            jobs.log(self.job, type_, msg)

    def checkpoint(self) -> None:
        """Between steps: renew the lease and stop if we were superseded or replaced."""
        with database.connection_context():
            verdict = jobs.heartbeat(self.job.id, self.worker_id)
        if verdict == "lost":
            raise Lost()
        if verdict == "cancel":
            raise Canceled()

    def update_workspace(self, **fields) -> None:
        fields["updated_at"] = utcnow()
        with database.connection_context():
            Workspace.update(**fields).where(Workspace.id == self.job.workspace_id).execute()

    def workspace(self) -> Workspace:
        with database.connection_context():
            return Workspace.get_by_id(self.job.workspace_id)


class Daemon:
    """One provisioner daemon. `run` loops until `stop` is set; `run_once` takes one job."""

    def __init__(
        self,
        settings,
        secret_key: str,
        *,
        name: str = "",
        timeout: float = jobs.HEARTBEAT_TIMEOUT,
        engine_factory: Callable | None = None,
    ):
        self.settings = settings
        self.secret_key = secret_key
        self.timeout = timeout
        self.heartbeat_every = max(0.05, timeout / 4)
        self.worker_id = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        # Tests may give one engine for every job; otherwise each job uses the engine of its
        # workspace's resource pool (app.provisioner.pools).
        self.engine_factory = engine_factory

    @property
    def poll_interval(self) -> float:
        interval = self.settings["provisioner.daemon_poll_interval"] / NANOSECONDS
        jitter = self.settings["provisioner.daemon_poll_jitter"] / NANOSECONDS
        return max(0.01, interval + random.uniform(0, jitter))

    def run(self, stop: threading.Event) -> None:
        log.info("provisioner daemon %s started", self.worker_id)
        while not stop.is_set():
            try:
                worked = self.run_once()
            except Exception:
                log.exception("provisioner daemon %s: polling failed", self.worker_id)
                worked = False
            if not worked:
                stop.wait(self.poll_interval)
        log.info("provisioner daemon %s stopped", self.worker_id)

    def run_once(self) -> bool:
        """Acquire and execute one job; False when the queue had nothing for us."""
        with database.connection_context():
            job = jobs.acquire(self.worker_id, self.timeout)
        if job is None:
            return False
        self.execute(job)
        return True

    def execute(self, job: ProvisionerJob) -> None:
        run = Run(job, self.worker_id)
        beating = threading.Event()
        beat = threading.Thread(target=self._beat, args=(run, beating), daemon=True)
        beat.start()
        status, error = "succeeded", ""
        try:
            if job.taken_over_from:
                run.log("stage", f"Resuming a job abandoned by daemon {job.taken_over_from}")
            getattr(self, f"_{job.kind}")(run)
        except Lost:
            log.warning("job %s was taken over by another daemon", job.id)
            status = ""
        except Canceled:
            status, error = "canceled", "superseded by a newer job"
            run.log("done", "Canceled: a newer request replaced this one")
        except engines.EngineError as exc:
            status, error = "failed", str(exc)
            self._fail(run, str(exc))
        except Exception as exc:  # a bug must not kill the daemon or leave the job running
            log.exception("job %s failed", job.id)
            status, error = "failed", f"internal error: {exc.__class__.__name__}: {exc}"
            self._fail(run, error)
        finally:
            beating.set()
            beat.join()
        if status:
            with database.connection_context():
                jobs.finish(job.id, self.worker_id, status, error)

    def _beat(self, run: Run, done: threading.Event) -> None:
        while not done.wait(self.heartbeat_every):
            try:
                with database.connection_context():
                    jobs.heartbeat(run.job.id, self.worker_id)
            except Exception:
                log.exception("heartbeat of job %s failed", run.job.id)

    def _fail(self, run: Run, message: str) -> None:
        try:
            run.log("error", message)
            if run.job.kind != "delete" or self._workspace_exists(run):
                run.update_workspace(
                    container_status="FAILED",
                    network_address="",
                    rebuild_messages=rebuild_message(message),
                    stat_error=message,
                )
        except Exception:
            log.exception("recording the failure of job %s failed", run.job.id)

    def _workspace_exists(self, run: Run) -> bool:
        with database.connection_context():
            return Workspace.select().where(Workspace.id == run.job.workspace_id).exists()

    def _engine(self, workspace: Workspace) -> engines.Engine:
        if self.engine_factory is not None:
            return self.engine_factory()
        with database.connection_context():
            return pools.engine_for_pool_id(
                self.settings, self.secret_key, workspace.resource_pool_id
            )

    def _spec(self, workspace: Workspace) -> engines.ContainerSpec:
        with database.connection_context():
            user = User.get_by_id(workspace.user_id)
            image = Image.get_by_id(workspace.image_id)
            registry = Registry.get_by_id(image.registry_id)
        password = ""
        if registry.password_encrypted:
            password = crypto.decrypt(self.secret_key, registry.password_encrypted)
        host = registry.registry.strip().rstrip("/")
        reference = f"{host}/{image.repository}" if host else image.repository
        return engines.ContainerSpec(
            workspace_id=workspace.id,
            workspace_name=workspace.name,
            user_id=user.id,
            username=user.username,
            organization_id=workspace.organization_id,
            image=f"{reference}:{workspace.image_tag}",
            cpu_cores=workspace.cpu_cores,
            memory_gb=workspace.memory_gb,
            network=self.settings["pycoderd.workspace_network"],
            credentials=engines.Credentials(registry.username, password),
        )

    def _build(self, run: Run) -> None:
        run.log("start", "Building workspace")
        run.checkpoint()
        # The address goes before the container does: once freed, the engine may give it to
        # another workspace, whose ports the proxy must never reach through this one's dev URLs.
        run.update_workspace(container_status="CREATING", stat_error="", network_address="")
        workspace = run.workspace()
        engine = self._engine(workspace)
        try:
            spec = self._spec(workspace)
            run.log("stage", f"Pulling image {spec.image}")
            engine.pull(spec.image, spec.credentials)
            run.checkpoint()
            if workspace.container_id:
                run.log("stage", "Removing the previous container (the home volume stays)")
                engine.remove_container(workspace.container_id)
                run.update_workspace(container_id="")
            engine.remove_container(spec.container_name)  # left by a daemon that died
            run.log(
                "stage",
                f"Creating container {spec.container_name} "
                f"({spec.cpu_cores:g} CPU cores, {spec.memory_gb:g} GB memory, "
                f"home volume {spec.volume_name} at {spec.home})",
            )
            container_id = engine.create(spec)
            run.update_workspace(container_id=container_id)
            run.checkpoint()
            run.log("stage", "Starting container")
            engine.start(container_id)
            # Read on every start: a bridge address changes across restarts.
            address = engine.state(container_id).address
            if not address:
                run.log("stage", NO_ADDRESS)
            now = utcnow()
            run.update_workspace(
                container_status="ON",
                network_address=address,
                last_built_at=now,
                last_online=now,
                rebuild_messages="[]",
                stat_error="",
            )
            run.log("done", "Workspace is ON")
        finally:
            engine.close()

    def _stop(self, run: Run) -> None:
        run.log("start", "Stopping workspace")
        workspace = run.workspace()
        run.update_workspace(network_address="")  # before the engine frees it (see _build)
        if workspace.container_id:
            engine = self._engine(workspace)
            try:
                run.log("stage", "Stopping container")
                engine.stop(workspace.container_id)
            finally:
                engine.close()
        run.update_workspace(container_status="OFF", stat_error="")
        run.log("done", "Workspace is OFF")

    def _delete(self, run: Run) -> None:
        run.log("start", "Deleting workspace")
        run.update_workspace(network_address="")  # before the engine frees it (see _build)
        workspace = run.workspace()
        try:
            engine = self._engine(workspace)
        except engines.NoEngine:
            if workspace.container_id:
                raise
            engine = None  # never built anywhere: nothing to clean up
        if engine is not None:
            try:
                run.log("stage", "Removing container")
                engine.remove_container(workspace.container_id)
                engine.remove_container(self._spec(workspace).container_name)
                run.log("stage", "Removing home volume")
                engine.remove_volume(workspace.id)
            finally:
                engine.close()
        run.log("done", "Workspace deleted")
        with database.connection_context():
            # The job and its logs go with the workspace (ON DELETE CASCADE).
            Workspace.delete().where(Workspace.id == workspace.id).execute()


def start_threads(app, stop: threading.Event, count: int | None = None) -> list[threading.Thread]:
    """Start `provisioner.daemons` daemons as threads of this process."""
    settings = app.config["SETTINGS"]
    count = settings["provisioner.daemons"] if count is None else count
    threads = []
    for index in range(count):
        daemon = Daemon(settings, app.config["SECRET_KEY"])
        thread = threading.Thread(
            target=daemon.run, args=(stop,), name=f"provisionerd-{index}", daemon=True
        )
        thread.start()
        threads.append(thread)
    return threads
