"""The job queue: atomic acquisition across processes, takeover, supersession, ordering."""

import datetime as dt
import multiprocessing
import os

from app import create_app, db
from app.models import ProvisionerJob, Workspace
from app.provisioner import jobs
from tests.conftest import base_config
from tests.factories import make_user
from tests.support import processes
from tests.support.workspaces import daemon_for, make_image

JOBS = 60
RACERS = 3


def _workspaces(count):
    owner = make_user()
    image = make_image()
    with db.database.connection_context(), db.database.atomic():
        return [
            Workspace.create(
                name=f"ws{index}", user=owner.id, organization=image.organization_id, image=image
            )
            for index in range(count)
        ]


def _race(config, worker_id, start, results, parent_pid):
    """A daemon in its own process: claim jobs until the queue is empty."""
    processes.die_with_parent(parent_pid=parent_pid)  # not past a killed test run
    create_app(config)
    start.wait(30)
    claimed = []
    with db.database.connection_context():
        while True:
            job = jobs.acquire(worker_id)
            if job is not None:
                claimed.append(job.id)
                continue
            pending = ProvisionerJob.select().where(ProvisionerJob.status == "pending")
            if not pending.exists():
                break
    results.put((worker_id, claimed))


def test_daemons_in_processes_never_take_the_same_job(app, tmp_path, pg_database):
    with db.database.connection_context(), db.database.atomic():
        for workspace in _workspaces(JOBS):
            jobs.enqueue(workspace, "build")
    db.close()
    context = multiprocessing.get_context("spawn")
    start, results = context.Event(), context.Queue()
    config = base_config(tmp_path, pg_database)
    racers = [
        context.Process(target=_race, args=(config, f"racer{i}", start, results, os.getpid()))
        for i in range(RACERS)
    ]
    for process in racers:
        process.start()
    try:
        start.set()
        claimed = dict(results.get(timeout=120) for _ in racers)
    finally:
        for process in racers:
            process.join(30)
            if process.is_alive():
                process.kill()
    every = [job_id for ids in claimed.values() for job_id in ids]
    assert len(every) == JOBS
    assert len(set(every)) == JOBS  # nobody took a job twice
    with db.database.connection_context():
        owners = {j.id: j.worker_id for j in ProvisionerJob.select()}
    for worker_id, ids in claimed.items():
        assert all(owners[job_id] == worker_id for job_id in ids)


def test_a_dead_daemons_job_is_taken_over(app, monkeypatch):
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    [workspace] = _workspaces(1)
    with db.database.connection_context():
        with db.database.atomic():
            job = jobs.enqueue(workspace, "build")
        assert jobs.acquire("dead-daemon").id == job.id
        assert jobs.acquire("live-daemon") is None  # its heartbeat is fresh
        stale = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(hours=1)
        ProvisionerJob.update(heartbeat_at=stale).where(ProvisionerJob.id == job.id).execute()
    live = daemon_for(app, name="live-daemon")
    assert live.run_once()
    with db.database.connection_context():
        job = ProvisionerJob.get_by_id(job.id)
        assert (job.status, job.worker_id) == ("failed", "live-daemon")  # no engine here
        assert "CODER_DOCKER_HOST" in job.error
        # The dead daemon, were it to come back, can change nothing.
        assert jobs.heartbeat(job.id, "dead-daemon") == "lost"
        assert not jobs.finish(job.id, "dead-daemon", "succeeded")
        messages = [line.msg for line in job.logs]
    assert "Resuming a job abandoned by daemon dead-daemon" in messages


def test_a_newer_job_cancels_a_running_one(app):
    [workspace] = _workspaces(1)
    with db.database.connection_context():
        with db.database.atomic():
            first = jobs.enqueue(workspace, "build")
        assert jobs.acquire("daemon-a").id == first.id
        assert jobs.heartbeat(first.id, "daemon-a") == "ok"
        with db.database.atomic():
            second = jobs.enqueue(workspace, "stop")
        assert jobs.heartbeat(first.id, "daemon-a") == "cancel"
        # The newer job waits until the running one has stopped.
        assert jobs.acquire("daemon-b") is None
        assert jobs.finish(first.id, "daemon-a", "canceled")
        assert jobs.acquire("daemon-b").id == second.id
        assert jobs.updating_ids([workspace.id]) == {workspace.id}
        assert jobs.finish(second.id, "daemon-b", "succeeded")
        assert jobs.updating_ids([workspace.id]) == set()


def test_cancel_stops_a_build_between_steps(app):
    [workspace] = _workspaces(1)
    with db.database.connection_context():
        with db.database.atomic():
            first = jobs.enqueue(workspace, "build")
        job = jobs.acquire("daemon-a")
        with db.database.atomic():
            jobs.enqueue(workspace, "stop")

    daemon_for(app, name="daemon-a").execute(job)
    with db.database.connection_context():
        first = ProvisionerJob.get_by_id(first.id)
        assert (first.status, first.error) == ("canceled", "superseded by a newer job")
        assert [line.type for line in first.logs] == ["start", "done"]
