"""Real Podman for tests: a private `podman system service` socket, and images to run on it.

Podman runs with its own storage, configuration and socket in a folder of the run's own
(`processes.owned_dir`), so tests share nothing with the machine's containers or other runs.
Everything started here is stopped by pid and every container/volume the tests create is removed
(see `Podman.remove_labelled`). The service dies with a killed run (`processes.start`); its
containers cannot (conmon detaches them), so each run first removes, by id, the containers and
volumes left in the folders of runs that are gone (`sweep_dead_runs`).

Outside CI a missing part skips the test with a message; under CI=true it fails instead.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from app.provisioner import background
from app.starter import podman as engine
from tests.support import processes
from tests.support.live_server import free_port

IN_CI = os.environ.get("CI") == "true"
INSTALL_HINT = "needs Debian packages podman, runc and uidmap (run .ci/services.sh as root)"
LABEL = "com.coder.workspace_id"
ROOT_PREFIX = "pycoderd-test-podman-"
missing_tools = engine.missing_tools


def require_tools() -> None:
    missing = missing_tools()
    if missing:
        message = f"{', '.join(missing)} not installed: {INSTALL_HINT}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


def wait_for(predicate, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


class Podman:
    """`podman system service` on a private socket, with the settings SPEC §13 asks for."""

    def __init__(self, root: Path, insecure_registries=()):
        self.root = root
        self.socket = root / "podman.sock"
        self.url = engine.socket_url(root)
        self.insecure_registries = list(insecure_registries)
        self.process: subprocess.Popen | None = None
        self.env = engine.process_env(root)

    def _write_config(self) -> None:
        engine.write_config(self.root, self.insecure_registries)

    def podman(self, *args: str, check: bool = True, timeout: float = 120) -> str:
        result = subprocess.run(
            ["podman", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"podman {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    def start(self) -> None:
        self._write_config()
        log = open(self.root / "service.log", "wb")  # noqa: SIM115 - closed with the process
        self.process = processes.start(
            engine.service_command(self.root),
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        wait_for(self._answers, 30, "the podman API socket")

    def _answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(
                "podman system service exited: " + (self.root / "service.log").read_text()[-2000:]
            )
        if not self.socket.exists():
            return False
        with socket.socket(socket.AF_UNIX) as sock:
            try:
                sock.connect(str(self.socket))
            except OSError:
                return False
        return True

    def stop(self) -> None:
        """Remove the tests' containers and volumes, stop the service, remove the folder."""
        if self.process is not None:
            self.remove_labelled()
            background.stop_process(self.process)
        processes.release(self.root)

    def remove_labelled(self) -> None:
        """Remove every workspace container and volume (they carry our labels)."""
        ids = self.podman("ps", "-a", "-q", "--filter", f"label={LABEL}", check=False).split()
        if ids:
            self.podman("rm", "-f", "-t", "0", *ids, check=False)
        volumes = self.podman(
            "volume", "ls", "-q", "--filter", f"label={LABEL}", check=False
        ).split()
        if volumes:
            self.podman("volume", "rm", "-f", *volumes, check=False)

    def inspect(self, name_or_id: str) -> dict | None:
        out = self.podman("container", "inspect", name_or_id, check=False)
        data = json.loads(out) if out.strip() else []
        return data[0] if data else None

    def volume_exists(self, name: str) -> bool:
        out = self.podman("volume", "ls", "-q", "--filter", f"name={name}", check=False)
        return name in out.split()


def sweep_dead_runs() -> list[Path]:
    """Remove, by id, the containers and volumes of runs that ended without cleaning up (a
    killed pytest), then their folders; the folders of live runs stay locked and untouched."""
    if missing_tools():
        return []
    return processes.sweep(ROOT_PREFIX, _remove_dead_run)


def _remove_dead_run(root: Path) -> None:
    Podman(root).remove_labelled()
    # A removed container's conmon runs `podman container cleanup`, which writes into the
    # folder's tmp/ after `rm` has returned: removing the folder before it ends leaves it behind.
    try:
        wait_for(lambda: not _processes_naming(root), 20, f"podman processes of {root} to end")
    except TimeoutError:
        pass  # the folder may stay; the next sweep takes it


def _processes_naming(root: Path) -> list[int]:
    needle = str(root).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


class PodmanEnv:
    """What the `podman_env` fixture gives: Podman, the loopback registries, pushed images."""

    def __init__(self, podman: Podman, registry, auth_registry, http_port: int):
        self.podman = podman
        self.docker_host = podman.url
        self.registry = registry  # tests.support.registry.Registry, open
        self.auth_registry = auth_registry  # the same with htpasswd auth
        self.http_port = http_port
        self.shell_repository = "coder/busybox"  # CMD /bin/sh: a terminal keeps it running
        self.httpd_repository = "coder/httpd"  # serves /srv on 127.0.0.1:http_port
        self.http_body = "hello from a pycoderd workspace\n"


@pytest.fixture(scope="session")
def podman_env(registry, auth_registry):
    """A private Podman API socket, and test images in the loopback registries, per session."""
    require_tools()
    podman = Podman(processes.owned_dir(ROOT_PREFIX), [registry.host, auth_registry.host])
    try:
        podman.start()
        env = PodmanEnv(podman, registry, auth_registry, free_port())
        for target in (registry, auth_registry):
            target.push_image(env.shell_repository, "latest")
        registry.push_image(
            env.httpd_repository,
            "latest",
            files={"/srv/index.html": env.http_body},
            cmd=["/bin/httpd", "-f", "-p", f"127.0.0.1:{env.http_port}", "-h", "/srv"],
        )
        yield env
    finally:
        podman.stop()
