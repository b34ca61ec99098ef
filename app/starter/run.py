"""`pycoderd starter`: a loopback registry holding the starter image, and Podman's API socket.

Everything lives in one folder (`<instance>/starter` by default): the registry's configuration
and data, Podman's three configuration files, storage and socket, and `server.env`, the settings
`pycoderd server` needs to build workspaces with them. The registry and Podman's service run as
this process's children until it is stopped (Ctrl-C or SIGTERM), then stop with it; workspace
containers outlive it, as they outlive any Podman service.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import threading
import time
from pathlib import Path

import requests

from app.provisioner import background
from app.starter import image, oci, podman

DOCKER_REGISTRY = "/usr/bin/docker-registry"
DEFAULT_REGISTRY = "127.0.0.1:5000"
PACKAGES = f"docker-registry busybox-static {podman.PACKAGES}"


class StarterError(Exception):
    """What stops the starter, in one line."""


def missing() -> list[str]:
    tools = [] if os.access(DOCKER_REGISTRY, os.X_OK) else ["docker-registry"]
    tools += [] if os.access(oci.BUSYBOX, os.X_OK) else ["busybox (busybox-static)"]
    return tools + podman.missing_tools()


def server_settings(root: Path, registry: str, network: str) -> dict[str, str]:
    return {
        "CODER_DOCKER_HOST": podman.socket_url(root),
        "CODER_REGISTRY_INSECURE": registry,
        "CODER_WORKSPACE_NETWORK": network,
    }


def _wait(predicate, timeout: float, what: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            lines = log.read_text(errors="replace").strip().splitlines()
            raise StarterError(f"{what} exited: {lines[-1] if lines else 'no output'}")
        if predicate():
            return
        time.sleep(0.1)
    raise StarterError(f"{what} did not answer within {timeout:g} s (see {log})")


def _start(command: list[str], log: Path, env=None) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)


def start_registry(root: Path, address: str) -> subprocess.Popen:
    """docker-registry on `address` (loopback), storing under root/registry."""
    folder = root / "registry"
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(folder / "data")}},
        "http": {"addr": address, "secret": secrets.token_hex(16)},
    }
    (folder / "config.yml").write_text(json.dumps(config))  # JSON is YAML
    log = folder / "registry.log"
    process = _start([DOCKER_REGISTRY, "serve", str(folder / "config.yml")], log)

    def answers() -> bool:
        try:
            return requests.get(f"http://{address}/v2/", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    _wait(answers, 30, f"docker-registry on {address}", process, log)
    return process


def start_podman(root: Path, registry: str) -> subprocess.Popen:
    podman.write_config(root, [registry])
    socket_path = root / "podman.sock"
    socket_path.unlink(missing_ok=True)  # left by a service that was killed
    log = root / "podman.log"
    process = _start(podman.service_command(root), log, env=podman.process_env(root))
    _wait(socket_path.exists, 30, "podman system service", process, log)
    return process


def run(root: Path, registry: str, network: str, say, stop_event: threading.Event) -> None:
    """Start both, push the image, write and say the settings, then wait for `stop_event`."""
    if not registry.startswith(("127.", "localhost:", "[::1]:")):
        raise StarterError(f"--registry-address {registry}: the starter serves loopback only")
    absent = missing()
    if absent:
        raise StarterError(
            f"missing {', '.join(absent)}: apt-get install {PACKAGES} (or bash .ci/services.sh)"
        )
    root = root.resolve()
    root.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    children: list[subprocess.Popen] = []
    try:
        children.append(start_registry(root, registry))
        say(f"registry: http://{registry} (docker-registry, data in {root / 'registry'})")
        digest = image.push(oci.Pusher(f"http://{registry}"))
        say(
            f"image: {registry}/{image.REPOSITORY}:{image.TAG} ({', '.join(image.contents())}; "
            f"{digest[:19]}…)"
        )
        children.append(start_podman(root, registry))
        say(f"podman: {podman.socket_url(root)} (podman system service)")
        settings = server_settings(root, registry, network)
        (root / "server.env").write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
        (root / "podman.env").write_text("".join(f"{k}={v}\n" for k, v in podman.env(root).items()))
        say("")
        say(f"The server's settings (also in {root / 'server.env'}):")
        for key, value in settings.items():
            say(f"  export {key}={value}")
        say(f"Podman's settings, for the podman command (also in {root / 'podman.env'}):")
        for key, value in podman.env(root).items():
            say(f"  export {key}={value}")
        for name, text in podman.config_files(root, [registry]).items():
            say(f"{root / name}:")
            for line in text.strip().splitlines():
                say(f"  {line}")
        say("")
        say(f"ready in {time.monotonic() - started:.1f} s; Ctrl-C stops the registry and Podman")
        while not stop_event.wait(1):
            exited = [child for child in children if child.poll() is not None]
            # Ctrl-C reaches the children too: one that ended with it is no error.
            if exited and not stop_event.wait(0.5):
                child = exited[0]
                raise StarterError(f"{child.args[0]} exited with status {child.returncode}")
    finally:
        for child in children:
            background.stop_process(child, timeout=15)
