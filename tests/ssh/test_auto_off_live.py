"""Auto-off against a real `pycoderd server` and Podman: with a short threshold and poll interval,
an idle workspace goes OFF by itself while one with an open SSH session stays ON (until the
session ends)."""

from __future__ import annotations

import requests

from app import db
from app.models import AuditLog, Organization
from app.services import activity, organizations
from tests.factories import auth_headers, make_token, make_user
from tests.ssh.test_live import Gateway, start_server
from tests.support import live_server, ssh
from tests.support.podman import wait_for
from tests.support.workspaces import make_image, podman_app, reload

LEASE = activity.SESSION_LEASE_SECONDS


def _create(server, token: str, name: str, image_id: str) -> str:
    response = requests.post(
        f"{server.url}/api/v0/workspaces",
        json={"name": name, "image_id": image_id},
        headers=auth_headers(token, "v0"),
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_an_idle_workspace_goes_off_one_with_an_ssh_session_stays_on(
    make_app, podman_env, tmp_path, pg_database
):
    ssh.require_client()
    podman_app(make_app, podman_env)
    with db.database.connection_context():
        Organization.update(auto_off_threshold_ms=1000).where(
            Organization.id == organizations.default_organization().id
        ).execute()
    port = live_server.free_port()
    server = start_server(
        tmp_path,
        pg_database,
        port,
        CODER_DOCKER_HOST=podman_env.docker_host,
        CODER_PROVISIONER_DAEMON_POLL_INTERVAL="200ms",
        CODER_AUTOBUILD_POLL_INTERVAL="1s",
    )
    tunnel = None
    try:
        gateway = Gateway(server, port, tmp_path)
        owner = make_user(username="dev")
        token = make_token(owner)
        image = make_image(podman_env.registry.host, podman_env.shell_repository)
        idle = _create(server, token, "idle", image.id)
        kept = _create(server, token, "kept", image.id)
        for workspace_id in (idle, kept):
            wait_for(lambda w=workspace_id: reload(w).container_status == "ON", 180, "a build")

        # An SSH session in `kept`, open all along (a command that waits).
        client = gateway.client()
        key = gateway.private_key(token, "dev_key")
        tunnel = client.start("dev-kept", key, "sleep 600", options=("-o", "LogLevel=ERROR"))
        wait_for(lambda: reload(kept).last_connection_at is not None, 60, "the SSH login")

        # `idle` goes OFF by itself (threshold 1 s, lengthened to the session lease).
        wait_for(lambda: reload(idle).container_status == "OFF", LEASE + 90, "auto-off")
        built = reload(kept).last_built_at

        # `kept` has been ON and built longer than the lease, and its session keeps it ON.
        def kept_on_and_beating():
            row = reload(kept)
            assert row.container_status == "ON"
            return (row.last_connection_at - built).total_seconds() >= LEASE + 5

        wait_for(kept_on_and_beating, LEASE + 60, "the session's heartbeats", interval=1)

        # Stopped by the system: one audit entry, no user.
        with db.database.connection_context():
            stops = list(AuditLog.select().where(AuditLog.action == "stop"))
        assert [(s.resource_id, s.user_id, s.user_agent) for s in stops] == [
            (idle, None, "pycoderd")
        ]

        # The session ends: `kept` is idle from then on, and goes OFF too.
        tunnel.terminate()
        tunnel.wait(30)
        tunnel = None
        wait_for(lambda: reload(kept).container_status == "OFF", LEASE + 90, "auto-off")
    finally:
        if tunnel is not None:
            tunnel.terminate()
            tunnel.wait(30)
        live_server.stop(server)
        podman_env.podman.remove_labelled()
