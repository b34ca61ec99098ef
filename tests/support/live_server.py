"""A real `pycoderd server` (gunicorn) on a free loopback port, for browser and process tests."""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.support import processes

PYCODERD = str(Path(sys.executable).with_name("pycoderd"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveServer:
    url: str
    env: dict
    process: subprocess.Popen

    def cli(self, *args: str) -> str:
        """Run `pycoderd ARGS` against the same database; return its stdout."""
        result = subprocess.run(
            [PYCODERD, *args], env=self.env, capture_output=True, text=True, timeout=60
        )
        if result.returncode != 0:
            raise RuntimeError(f"pycoderd {' '.join(args)} failed: {result.stderr}")
        return result.stdout.strip()


def start(tmp_path: Path, extra_env: dict | None = None, workers: int = 1) -> LiveServer:
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "CODER_SQLITE_PATH": str(tmp_path / "live.sqlite3"),
        "CODER_SECRET_KEY": "live-server-test-secret",
        "CODER_HTTP_ADDRESS": f"127.0.0.1:{port}",
        "CODER_GUNICORN_WORKERS": str(workers),
        "CODER_LOGGING_HUMAN": str(tmp_path / "server.log"),
        "CODER_UPDATE_CHECK": "false",
        # Load tests would trip the default limit; rate-limit tests turn it back on.
        "CODER_DANGEROUS_DISABLE_RATE_LIMITS": "true",
        **(extra_env or {}),
    }
    log = open(tmp_path / "server.out", "w")  # noqa: SIM115 - closed with the process
    process = processes.start(
        [PYCODERD, "server"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError((tmp_path / "server.out").read_text())
        try:
            if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                return LiveServer(url=url, env=env, process=process)
        except (requests.ConnectionError, requests.Timeout):
            # A worker still booting (e.g. beside the background process) answers late.
            time.sleep(0.2)
    stop(LiveServer(url=url, env=env, process=process))
    raise RuntimeError("pycoderd server did not answer /healthz within 30 s")


def stop(server: LiveServer) -> None:
    """Stop the server's process group by its id."""
    if server.process.poll() is None:
        os.killpg(server.process.pid, signal.SIGTERM)
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait(timeout=5)


def worker_pids(server: LiveServer) -> list[int]:
    """The gunicorn workers of a running server (not its background or SSH gateway process)."""
    master = server.process.pid
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [
        int(pid) for pid in children if not _is_helper(Path(f"/proc/{pid}/cmdline").read_bytes())
    ]


def _is_helper(cmdline: bytes) -> bool:
    return b"app.provisioner.background" in cmdline or b"app.ssh.runner" in cmdline


def worker_serving(server: LiveServer, connection: http.client.HTTPConnection) -> int | None:
    """The pid of the worker holding this open (kept-alive) connection, found through the
    kernel's socket table: the server side of the connection and the worker's descriptors."""
    server_port = int(server.url.rsplit(":", 1)[1])
    client_port = connection.sock.getsockname()[1]
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()  # local address, remote address (hex host:port), …, inode
        ports = tuple(int(address.split(":")[1], 16) for address in fields[1:3])
        if ports == (server_port, client_port):
            inode = fields[9]
    if inode is None:
        return None
    for pid in worker_pids(server):
        try:
            descriptors = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for descriptor in descriptors:
            try:
                if os.readlink(descriptor) == f"socket:[{inode}]":
                    return pid
            except OSError:
                continue
    return None


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")
