"""`pycoderd server` runs ONE background process for the daemons; `pycoderd provisionerd` alone."""

import os
import signal
import subprocess
import time
from pathlib import Path

import requests

from app import create_app, db
from tests.conftest import base_config
from tests.support import live_server, processes
from tests.support.workspaces import make_image


def _children(pid: int) -> list[tuple[int, str]]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append((int(entry.name), cmdline))
    return found


def _image_in(server, tmp_path) -> str:
    """An image row in the live server's database (its SQLite file)."""
    config = base_config(tmp_path)
    config["CODER_SQLITE_PATH"] = server.env["CODER_SQLITE_PATH"]
    create_app(config)
    try:
        return make_image().id
    finally:
        db.close()


def _workspace_status(server, headers, workspace_id, wanted, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = requests.get(
            f"{server.url}/api/v0/workspaces/{workspace_id}", headers=headers, timeout=10
        ).json()
        if body["latest_stat"]["container_status"] == wanted:
            return body
        time.sleep(0.2)
    raise TimeoutError(f"workspace never became {wanted}: {body}")


def _start(tmp_path, daemons: str):
    server = live_server.start(
        tmp_path,
        extra_env={
            "CODER_PROVISIONER_DAEMONS": daemons,
            "CODER_PROVISIONER_DAEMON_POLL_INTERVAL": "100ms",
        },
        workers=2,
    )
    server.cli("users", "create", "owner", "--email", "owner@example.com")
    token = server.cli("tokens", "create", "t", "--user", "owner")
    return server, {"Session-Token": token}


def test_server_runs_the_daemons_in_one_background_process(tmp_path):
    server, headers = _start(tmp_path, "2")
    try:
        background = [
            pid for pid, cmd in _children(server.process.pid) if "app.provisioner.background" in cmd
        ]
        assert len(background) == 1  # not one per gunicorn worker
        image_id = _image_in(server, tmp_path)
        response = requests.post(
            f"{server.url}/api/v0/workspaces",
            json={"name": "dev", "image_id": image_id},
            headers=headers,
            timeout=10,
        )
        assert response.status_code == 201, response.text
        body = _workspace_status(server, headers, response.json()["id"], "FAILED")
        assert "CODER_DOCKER_HOST" in body["rebuild_messages"][0]["text"]
    finally:
        live_server.stop(server)
    assert not any(os.path.exists(f"/proc/{pid}") for pid in background)


def test_provisionerd_runs_standalone(tmp_path):
    server, headers = _start(tmp_path, "0")
    daemon = None
    try:
        image_id = _image_in(server, tmp_path)
        workspace_id = requests.post(
            f"{server.url}/api/v0/workspaces",
            json={"name": "dev", "image_id": image_id},
            headers=headers,
            timeout=10,
        ).json()["id"]
        daemon = processes.start(
            [live_server.PYCODERD, "provisionerd", "--provisioner-daemons", "1"],
            env=server.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        body = _workspace_status(server, headers, workspace_id, "FAILED")
        assert "CODER_DOCKER_HOST" in body["rebuild_messages"][0]["text"]
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(30) == 0
        assert b"1 daemons" in daemon.stderr.read()
    finally:
        if daemon is not None and daemon.poll() is None:
            daemon.kill()
            daemon.wait()
        live_server.stop(server)
