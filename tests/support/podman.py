"""Real Podman for tests: a private `podman system service` socket, a loopback registry, images.

Podman runs with its own storage, configuration and socket under a temporary folder, so tests
share nothing with the machine's containers. Everything started here is stopped by pid and every
container/volume the tests create is removed (see `Podman.remove_labelled`).

Outside CI a missing part skips the test with a message; under CI=true it fails instead.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from app.provisioner import background

IN_CI = os.environ.get("CI") == "true"
INSTALL_HINT = (
    "needs Debian packages podman, runc, uidmap, busybox-static and docker-registry "
    "(run .ci/services.sh as root)"
)
LABEL = "com.coder.workspace_id"


def missing_tools() -> list[str]:
    return [
        tool
        for tool in ("podman", "runc", "busybox", "docker-registry")
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists()
    ]


def require_tools() -> None:
    missing = missing_tools()
    if missing:
        message = f"{', '.join(missing)} not installed: {INSTALL_HINT}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


class LoopbackRegistry:
    """Debian's docker-registry (distribution 2.x) on 127.0.0.1, plain HTTP, no auth."""

    def __init__(self, root: Path):
        self.root = root
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / "config.yml"
        config.write_text(
            "version: 0.1\n"
            "log:\n  level: warn\n"
            "storage:\n"
            f"  filesystem:\n    rootdirectory: {self.root / 'data'}\n"
            "  delete:\n    enabled: true\n"
            f"http:\n  addr: {self.host}\n"
        )
        log = open(self.root / "registry.log", "wb")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(
            ["docker-registry", "serve", str(config)], stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        wait_for(self._answers, 20, f"docker-registry on {self.host}")

    def _answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(
                "docker-registry exited: " + (self.root / "registry.log").read_text()[-2000:]
            )
        try:
            with urllib.request.urlopen(f"http://{self.host}/v2/", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            background.stop_process(self.process)


class Podman:
    """`podman system service` on a private socket, with the settings SPEC §13 asks for."""

    def __init__(self, root: Path, insecure_registries=()):
        self.root = root
        self.socket = root / "podman.sock"
        self.url = f"unix://{self.socket}"
        self.insecure_registries = list(insecure_registries)
        self.process: subprocess.Popen | None = None
        self.env = dict(os.environ)

    def _write_config(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "containers.conf").write_text(
            "[containers]\n"
            'default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n'
            "[engine]\n"
            'runtime = "runc"\n'
            'cgroup_manager = "cgroupfs"\n'
            'events_logger = "file"\n'
            f'tmp_dir = "{self.root / "tmp"}"\n'
        )
        registries = ["unqualified-search-registries = []\n"]
        for host in self.insecure_registries:
            registries.append(f'[[registry]]\nlocation = "{host}"\ninsecure = true\n')
        (self.root / "registries.conf").write_text("\n".join(registries))
        (self.root / "storage.conf").write_text(
            "[storage]\n"
            'driver = "vfs"\n'
            f'graphroot = "{self.root / "storage"}"\n'
            f'runroot = "{self.root / "run"}"\n'
        )
        self.env.update(
            CONTAINERS_CONF=str(self.root / "containers.conf"),
            CONTAINERS_REGISTRIES_CONF=str(self.root / "registries.conf"),
            CONTAINERS_STORAGE_CONF=str(self.root / "storage.conf"),
        )
        self.env.pop("DOCKER_HOST", None)

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
        self.process = subprocess.Popen(
            ["podman", "system", "service", "--time=0", self.url],
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
        if self.process is not None:
            self.remove_labelled()
            background.stop_process(self.process)

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

    def build_busybox_image(self, reference: str, cmd: list[str], files: dict | None = None):
        """Build `reference` from busybox-static (no network) and push it to its registry."""
        context = self.root / "build" / reference.replace("/", "_").replace(":", "_")
        rootfs = context / "rootfs"
        (rootfs / "bin").mkdir(parents=True, exist_ok=True)
        for folder in ("tmp", "home", "root", "etc", "srv"):
            (rootfs / folder).mkdir(exist_ok=True)
        busybox = shutil.which("busybox") or "/bin/busybox"
        shutil.copy(busybox, rootfs / "bin" / "busybox")
        applets = subprocess.run(
            [busybox, "--list"], capture_output=True, text=True, check=True
        ).stdout.split()
        for applet in applets:
            link = rootfs / "bin" / applet
            if not link.exists():
                link.symlink_to("busybox")
        (rootfs / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
        (rootfs / "etc" / "os-release").write_text(
            'ID=busybox\nPRETTY_NAME="BusyBox (pycoderd tests)"\nHOME_URL="https://busybox.net/"\n'
        )
        for path, content in (files or {}).items():
            target = rootfs / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
        (context / "Containerfile").write_text(
            f"FROM scratch\nCOPY rootfs/ /\nENV PATH=/bin\nCMD {json.dumps(cmd)}\n"
        )
        self.podman("build", "--quiet", "-t", reference, str(context), timeout=300)
        self.podman("push", "--tls-verify=false", reference, timeout=300)
        self.podman("rmi", "-f", reference, check=False)


class PodmanEnv:
    """What the `podman_env` fixture gives: the registry, Podman, and images pushed to it."""

    def __init__(self, registry: LoopbackRegistry, podman: Podman, http_port: int):
        self.registry = registry
        self.podman = podman
        self.docker_host = podman.url
        self.http_port = http_port
        self.shell_repository = "coder/busybox"  # CMD /bin/sh: a terminal keeps it running
        self.httpd_repository = "coder/httpd"  # serves /srv on 127.0.0.1:http_port
        self.http_body = "hello from a pycoderd workspace\n"


@pytest.fixture(scope="session")
def podman_env(tmp_path_factory):
    """A loopback registry and a private Podman API socket for the whole session."""
    require_tools()
    root = tmp_path_factory.mktemp("podman")
    registry = LoopbackRegistry(root / "registry")
    podman = Podman(root / "podman", [registry.host])
    try:
        registry.start()
        podman.start()
        env = PodmanEnv(registry, podman, free_port())
        podman.build_busybox_image(f"{registry.host}/{env.shell_repository}:latest", ["/bin/sh"])
        podman.build_busybox_image(
            f"{registry.host}/{env.httpd_repository}:latest",
            ["/bin/httpd", "-f", "-p", f"127.0.0.1:{env.http_port}", "-h", "/srv"],
            files={"/srv/index.html": env.http_body},
        )
        yield env
    finally:
        podman.stop()
        registry.stop()
