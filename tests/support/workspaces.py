"""Workspace helpers for tests: image rows, an app wired to Podman, builds run to the end."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

import pytest

from app import crypto, db
from app.models import Image, ProvisionerJob, Registry, Workspace
from app.provisioner import daemon as daemons
from app.provisioner import jobs
from app.services import organizations
from app.services import workspaces as workspaces_service
from app.services.context import Caller
from tests.factories import make_token, make_user
from tests.support.podman import wait_for


def make_image(
    registry_host: str = "registry.invalid",
    repository: str = "coder/busybox",
    *,
    organization_id: str | None = None,
    credentials: tuple[str, str, str] | None = None,
    **fields,
) -> Image:
    """An image row (and its registry row) without contacting any registry.

    `credentials` = (username, password, secret key to encrypt the password with).
    """
    username, password = "", ""
    if credentials:
        username = credentials[0]
        password = crypto.encrypt(credentials[2], credentials[1])
    with db.database.connection_context():
        org_id = organization_id or organizations.default_organization().id
        registry = Registry.create(
            organization=org_id,
            friendly_name=registry_host,
            registry=registry_host,
            username=username,
            password_encrypted=password,
        )
        fields.setdefault("default_cpu_cores", 0.5)
        fields.setdefault("default_memory_gb", 0.25)
        fields.setdefault("default_disk_gb", 2)
        return Image.create(organization=org_id, registry=registry, repository=repository, **fields)


def daemon_for(app, **kwargs) -> daemons.Daemon:
    return daemons.Daemon(app.config["SETTINGS"], app.config["SECRET_KEY"], **kwargs)


def run_jobs(app, timeout: float = 120) -> None:
    """Run queued jobs in this thread until none is pending or running."""
    daemon = daemon_for(app)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if daemon.run_once():
            continue
        with db.database.connection_context():
            active = ProvisionerJob.select().where(ProvisionerJob.status.in_(jobs.ACTIVE))
            if not active.exists():
                return
        time.sleep(0.05)
    raise TimeoutError("jobs still queued after the timeout")


def reload(workspace_id: str) -> Workspace | None:
    with db.database.connection_context():
        return Workspace.get_or_none(Workspace.id == workspace_id)


@dataclass
class RunningWorkspace:
    app: object
    client: object
    owner: object
    token: str
    workspace_id: str
    port: int  # the container serves HTTP here (host networking)
    body: str  # what GET / answers


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def podman_app(make_app, podman_env, **overrides):
    """An app building workspaces on Podman, on the host network unless overridden."""
    settings = {"CODER_DOCKER_HOST": podman_env.docker_host, "CODER_WORKSPACE_NETWORK": "host"}
    return make_app(**(settings | overrides))


@pytest.fixture
def running_workspace(make_app, podman_env):
    """An ON workspace whose container serves HTTP on 127.0.0.1:`port`; removed afterwards."""
    app = podman_app(make_app, podman_env)
    owner = make_user(username="wsowner")
    token = make_token(owner)
    image = make_image(podman_env.registry.host, podman_env.httpd_repository)
    with db.database.connection_context():
        workspace = workspaces_service.create(
            Caller(user=owner, user_agent="pytest"), name="web", image_id=image.id
        )
    try:
        run_jobs(app)
        assert reload(workspace.id).container_status == "ON", reload(workspace.id).stat_error
        # ON means started; the server inside needs a moment to listen.
        wait_for(lambda: listening(podman_env.http_port), 30, "the workspace's HTTP server")
        yield RunningWorkspace(
            app,
            app.test_client(),
            owner,
            token,
            workspace.id,
            podman_env.http_port,
            podman_env.http_body,
        )
    finally:
        with db.database.connection_context():
            if Workspace.get_or_none(Workspace.id == workspace.id) is not None:
                workspaces_service.delete(Caller(user=owner), workspace.id)
        run_jobs(app)
        podman_env.podman.remove_labelled()
