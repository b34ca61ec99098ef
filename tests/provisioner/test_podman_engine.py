"""Workspaces as real containers, through the API, against Podman and a loopback registry."""

import datetime as dt
import urllib.request

from app import db
from app.models import BuildLog, ProvisionerJob
from app.provisioner import jobs, stats
from app.provisioner.stats import StatsCollector
from app.services import workspaces
from app.services.context import Caller
from tests.factories import auth_headers, make_token, make_user
from tests.support.workspaces import make_image, podman_app, reload, run_jobs

GIB = 1024**3


def _logs(client, headers, workspace_id):
    response = client.get(f"/api/v0/workspaces/{workspace_id}/builds/latest/logs", headers=headers)
    assert response.status_code == 200, response.json
    return response.json


def test_lifecycle(make_app, podman_env):
    app = podman_app(make_app, podman_env)
    client = app.test_client()
    owner = make_user(username="alice")
    headers = auth_headers(make_token(owner), "v0")
    image = make_image(podman_env.registry.host, podman_env.shell_repository)
    pod = podman_env.podman

    response = client.post(
        "/api/v0/workspaces",
        json={"name": "dev", "image_id": image.id, "memory_gb": 0.5, "cpu_cores": 0.5},
        headers=headers,
    )
    assert response.status_code == 201, response.json
    workspace_id = response.json["id"]
    assert response.json["updating"] is True
    assert response.json["latest_stat"]["container_status"] == "CREATING"
    assert response.json["disk_gb"] == 2  # the image's default

    run_jobs(app)
    body = client.get(f"/api/v0/workspaces/{workspace_id}", headers=headers).json
    assert body["latest_stat"]["container_status"] == "ON", body
    assert body["updating"] is False
    container_id = reload(workspace_id).container_id
    assert reload(workspace_id).network_address == "127.0.0.1"  # the host network
    info = pod.inspect(container_id)
    assert info["State"]["Running"] is True
    assert info["HostConfig"]["Memory"] == GIB // 2
    assert info["HostConfig"]["NanoCpus"] == 500_000_000
    assert info["Config"]["Labels"]["com.coder.workspace_id"] == workspace_id
    assert info["Config"]["Labels"]["com.coder.user_id"] == owner.id
    assert info["Config"]["Labels"]["com.coder.organization_id"] == body["organization_id"]
    types = [line["type"] for line in _logs(client, headers, workspace_id)]
    assert types[0] == "start" and types[-1] == "done" and "stage" in types

    # A file in the home volume survives a rebuild (the seed's PATCH with {} as written).
    pod.podman("exec", container_id, "sh", "-c", "echo kept > /home/alice/proof")
    response = client.patch(
        f"/api/v0/workspaces/{workspace_id}",
        data="{}",
        headers={**headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.json
    run_jobs(app)
    rebuilt = reload(workspace_id)
    assert rebuilt.container_status == "ON"
    assert rebuilt.container_id != container_id
    assert pod.inspect(container_id) is None
    assert pod.podman("exec", rebuilt.container_id, "cat", "/home/alice/proof") == "kept\n"

    # Stop -> OFF, rebuild -> ON again.
    response = client.put(f"/api/v0/workspaces/{workspace_id}/stop", headers=headers)
    assert response.status_code == 200, response.json
    run_jobs(app)
    assert reload(workspace_id).container_status == "OFF"
    assert reload(workspace_id).network_address == ""
    assert pod.inspect(rebuilt.container_id)["State"]["Running"] is False
    response = client.patch(f"/api/v0/workspaces/{workspace_id}", json={}, headers=headers)
    assert response.status_code == 200
    run_jobs(app)
    assert reload(workspace_id).container_status == "ON"

    # Delete -> container and volume gone, and the workspace with them.
    last_container = reload(workspace_id).container_id
    response = client.delete(f"/api/v0/workspaces/{workspace_id}", headers=headers)
    assert response.status_code == 204
    run_jobs(app)
    assert reload(workspace_id) is None
    assert pod.inspect(last_container) is None
    assert not pod.volume_exists(f"coder-home-{workspace_id}")
    assert client.get(f"/api/v0/workspaces/{workspace_id}", headers=headers).status_code == 404


def test_missing_tag_fails_with_a_readable_message(make_app, podman_env):
    app = podman_app(make_app, podman_env)
    client = app.test_client()
    owner = make_user()
    headers = auth_headers(make_token(owner), "v0")
    image = make_image(podman_env.registry.host, podman_env.shell_repository)
    response = client.post(
        "/api/v0/workspaces",
        json={"name": "broken", "image_id": image.id, "image_tag": "no-such-tag"},
        headers=headers,
    )
    assert response.status_code == 201, response.json
    run_jobs(app)
    body = client.get(f"/api/v0/workspaces/{response.json['id']}", headers=headers).json
    assert body["latest_stat"]["container_status"] == "FAILED"
    message = body["rebuild_messages"][0]["text"]
    assert "no-such-tag" in message and "pulling" in message
    errors = [line for line in _logs(client, headers, body["id"]) if line["type"] == "error"]
    assert errors and errors[0]["msg"] == message
    client.delete(f"/api/v0/workspaces/{body['id']}", headers=headers)
    run_jobs(app)
    assert reload(body["id"]) is None


def test_running_workspace_serves_http(running_workspace):
    url = f"http://127.0.0.1:{running_workspace.port}/"
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.read().decode() == running_workspace.body
    with db.database.connection_context():
        assert BuildLog.select().where(BuildLog.workspace == running_workspace.workspace_id).count()


def test_pull_uses_the_registry_credentials(make_app, podman_env):
    app = podman_app(make_app, podman_env)
    client = app.test_client()
    owner = make_user()
    headers = auth_headers(make_token(owner), "v0")
    target = podman_env.auth_registry
    # The wrong password first: nothing of this image is in Podman's storage yet.
    images = {
        "bad": make_image(
            target.host,
            podman_env.shell_repository,
            credentials=(target.username, "wrong", app.config["SECRET_KEY"]),
        ),
        "good": make_image(
            target.host,
            podman_env.shell_repository,
            credentials=(target.username, target.password, app.config["SECRET_KEY"]),
        ),
    }
    created = {}
    for name, image in images.items():
        response = client.post(
            "/api/v0/workspaces", json={"name": name, "image_id": image.id}, headers=headers
        )
        assert response.status_code == 201, response.json
        created[name] = response.json["id"]
    run_jobs(app)
    assert reload(created["good"]).container_status == "ON"
    failed = reload(created["bad"])
    assert failed.container_status == "FAILED"
    assert "pulling" in failed.stat_error
    for workspace_id in created.values():
        client.delete(f"/api/v0/workspaces/{workspace_id}", headers=headers)
    run_jobs(app)


def test_stats_and_drift(make_app, podman_env):
    app = podman_app(make_app, podman_env)
    client = app.test_client()
    owner = make_user()
    headers = auth_headers(make_token(owner), "v0")
    image = make_image(podman_env.registry.host, podman_env.shell_repository)
    workspace_id = client.post(
        "/api/v0/workspaces", json={"name": "watched", "image_id": image.id}, headers=headers
    ).json["id"]
    run_jobs(app)
    collector = StatsCollector(app.config["SETTINGS"])
    assert collector.collect_once() == 1
    stat = client.get(f"/api/v0/workspaces/{workspace_id}", headers=headers).json["latest_stat"]
    assert stat["container_status"] == "ON" and stat["stat_error"] == ""
    assert stat["memory_total"] == GIB // 4  # the image's default 0.25 GB, as the hard limit
    assert stat["disk_total"] == 2 * GIB
    assert stat["last_online"] is not None

    # Stopped behind pycoderd's back: noticed and shown.
    container_id = reload(workspace_id).container_id
    podman_env.podman.podman("stop", "-t", "0", container_id)
    collector.collect_once()
    stat = client.get(f"/api/v0/workspaces/{workspace_id}", headers=headers).json["latest_stat"]
    assert stat["container_status"] == "OFF"
    assert "stopped outside pycoderd" in stat["stat_error"]

    # Removed behind pycoderd's back: OFF, and a rebuild is asked for; the rebuild works.
    podman_env.podman.podman("rm", "-f", container_id)
    collector.collect_once()
    body = client.get(f"/api/v0/workspaces/{workspace_id}", headers=headers).json
    assert body["latest_stat"]["container_status"] == "OFF"
    assert body["rebuild_messages"] == [
        {"text": stats.REMOVED, "required": True, "auto_off_threshold": False}
    ]
    client.patch(f"/api/v0/workspaces/{workspace_id}", json={}, headers=headers)
    run_jobs(app)
    assert reload(workspace_id).container_status == "ON"
    client.delete(f"/api/v0/workspaces/{workspace_id}", headers=headers)
    run_jobs(app)


def test_a_dead_daemons_build_is_finished_by_another(make_app, podman_env):
    app = podman_app(make_app, podman_env)
    owner = make_user()
    image = make_image(podman_env.registry.host, podman_env.shell_repository)
    with db.database.connection_context():
        workspace = workspaces.create(Caller(user=owner), name="orphan", image_id=image.id)
        job = jobs.acquire("daemon-that-dies")
        jobs.log(job, "start", "Building workspace")  # and then the daemon is gone
        stale = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=5)
        ProvisionerJob.update(heartbeat_at=stale).where(ProvisionerJob.id == job.id).execute()
    run_jobs(app)
    assert reload(workspace.id).container_status == "ON"
    with db.database.connection_context():
        job = ProvisionerJob.get_by_id(job.id)
        with db.database.atomic():
            workspaces.delete(Caller(user=owner), workspace.id)
    assert job.status == "succeeded" and job.worker_id != "daemon-that-dies"
    run_jobs(app)
