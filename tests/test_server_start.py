"""`pycoderd server` as someone starts it: the banner, its format, and a port already taken."""

import json
import os
import shlex
import socket
import subprocess
from pathlib import Path

import pytest
import requests

from tests.support import live_server, processes

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.backend("sqlite")  # the start itself, not the database


def test_json_mode_writes_every_line_as_json_banner_and_gunicorn_included(tmp_path):
    server = live_server.start(
        tmp_path, {"CODER_LOGGING_HUMAN": "", "CODER_LOGGING_JSON": "/dev/stderr"}
    )
    try:
        assert requests.get(f"{server.url}/api/v2/buildinfo", timeout=10).status_code == 200
    finally:
        live_server.stop(server)
    lines = (tmp_path / "server.out").read_text().splitlines()
    entries = [json.loads(line) for line in lines]  # every line, or this raises
    by_logger = {}
    for entry in entries:
        by_logger.setdefault(entry["logger"], []).append(entry["msg"])
    assert any(m.startswith("Starting gunicorn") for m in by_logger["pycoderd.gunicorn"])
    assert any(m.startswith("Booting worker") for m in by_logger["pycoderd.gunicorn"])
    banner = by_logger["pycoderd.server"]
    assert any(m.startswith("No users yet.") for m in banner)
    assert f"listening on {server.url}" in " ".join(banner)
    assert any(m.startswith("GET /api/v2/buildinfo 200 ") for m in by_logger["pycoderd.access"])


def test_banner_names_a_pycoderd_that_runs_from_where_the_server_started(tmp_path):
    server = live_server.start(tmp_path)  # cwd: the checkout, as with `make run`
    try:
        log = (tmp_path / "server.log").read_text()
    finally:
        live_server.stop(server)
    (hint,) = [line for line in log.splitlines() if "No users yet." in line]
    command = shlex.split(hint.split("Create the first one with: ", 1)[1])
    assert command[1:4] == ["users", "create", "admin"]
    executable = command[0]
    if executable != "pycoderd":  # a path: it must work from the server's folder
        assert os.access(Path(os.getcwd(), executable), os.X_OK), executable
    else:
        assert subprocess.run(["which", "pycoderd"], capture_output=True).returncode == 0
    # In a checkout whose venv is not on PATH, the path is the one README's commands use.
    if Path(live_server.PYCODERD).resolve() == (REPO / ".venv/bin/pycoderd").resolve():
        assert executable in (".venv/bin/pycoderd", "pycoderd")


def test_a_taken_port_fails_without_saying_listening(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(tmp_path),
            "CODER_SQLITE_PATH": str(tmp_path / "db.sqlite3"),
            "CODER_HTTP_ADDRESS": address,
            "CODER_UPDATE_CHECK": "false",
        }
        process = processes.start(
            [live_server.PYCODERD, "server"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            output, _ = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, 9)
                process.wait()
    assert process.returncode != 0
    assert "listening on" not in output
    assert f"Connection in use: ('127.0.0.1', {address.split(':')[1]})" in output
    # Nothing it started outlives it (the background process goes with the server).
    leftovers = subprocess.run(
        ["pgrep", "-f", f"app.provisioner.background .* {process.pid}$"], capture_output=True
    )
    assert leftovers.stdout == b""
