"""A real `pycoderd server` building workspaces on Podman, on the test's own database."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest
import requests

from tests.conftest import base_config
from tests.factories import auth_headers
from tests.support import live_server
from tests.support.workspaces import make_image, podman_app


@dataclass
class ExecServer:
    app: object
    live: live_server.LiveServer
    podman_env: object

    @property
    def ws_url(self) -> str:
        return "ws" + self.live.url.removeprefix("http")

    def api(self, method: str, path: str, token: str, **kwargs) -> requests.Response:
        headers = auth_headers(token, "v0")
        return requests.request(method, self.live.url + path, headers=headers, timeout=30, **kwargs)

    def workspace(self, token: str, name: str, tag: str = "latest") -> dict:
        """Create a workspace through the server and wait for its build to end."""
        image = make_image(self.podman_env.registry.host, self.podman_env.shell_repository)
        response = self.api(
            "POST",
            "/api/v0/workspaces",
            token,
            json={"name": name, "image_id": image.id, "image_tag": tag},
        )
        assert response.status_code == 201, response.text
        return self.wait_built(token, response.json()["id"])

    def wait_built(self, token: str, workspace_id: str, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            body = self.api("GET", f"/api/v0/workspaces/{workspace_id}", token).json()
            if not body["updating"]:
                return body
            time.sleep(0.2)
        raise TimeoutError(f"workspace {workspace_id} still building after {timeout} s")


@pytest.fixture
def exec_server(make_app, podman_env, tmp_path, pg_database):
    app = podman_app(make_app, podman_env)
    config = base_config(tmp_path, pg_database)
    env = {
        "CODER_SQLITE_PATH": config["CODER_SQLITE_PATH"],
        "CODER_SECRET_KEY": config["CODER_SECRET_KEY"],
        "CODER_DOCKER_HOST": podman_env.docker_host,
        "CODER_WORKSPACE_NETWORK": "host",
        "CODER_PROVISIONER_DAEMON_POLL_INTERVAL": "200ms",
    }
    if pg_database:
        env["CODER_PG_CONNECTION_URL"] = pg_database
    live = live_server.start(tmp_path, env)
    try:
        yield ExecServer(app, live, podman_env)
    finally:
        live_server.stop(live)
        podman_env.podman.remove_labelled()
