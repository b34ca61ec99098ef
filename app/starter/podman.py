"""Podman as a private Docker Engine API socket: its configuration files, in one folder.

What these machines need (SPEC §13): runc as the runtime, explicit nofile/nproc ulimits, the
cgroupfs manager and a file event log (no systemd), storage of its own (vfs: works everywhere),
and a `registries.conf` marking plain-HTTP registries `insecure`. `podman system service` on a
unix socket in the folder is the API pycoderd talks to (`CODER_DOCKER_HOST`). Used by
`pycoderd starter` and by the tests (tests/support/podman.py), with the same layout.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

PACKAGES = "podman runc uidmap"


def missing_tools() -> list[str]:
    return [
        tool
        for tool in ("podman", "runc")
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists()
    ]


def socket_url(root: Path) -> str:
    return f"unix://{root / 'podman.sock'}"


def env(root: Path) -> dict[str, str]:
    """What the `podman` command needs to use this folder's engine (its three files)."""
    return {
        "CONTAINERS_CONF": str(root / "containers.conf"),
        "CONTAINERS_REGISTRIES_CONF": str(root / "registries.conf"),
        "CONTAINERS_STORAGE_CONF": str(root / "storage.conf"),
    }


def config_files(root: Path, insecure_registries=()) -> dict[str, str]:
    """{file name: contents} of the engine's configuration."""
    registries = ["unqualified-search-registries = []\n"]
    for host in insecure_registries:
        registries.append(f'[[registry]]\nlocation = "{host}"\ninsecure = true\n')
    return {
        "containers.conf": (
            "[containers]\n"
            'default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n'
            "[engine]\n"
            'runtime = "runc"\n'
            'cgroup_manager = "cgroupfs"\n'
            'events_logger = "file"\n'
            f'tmp_dir = "{root / "tmp"}"\n'
        ),
        "registries.conf": "\n".join(registries),
        "storage.conf": (
            "[storage]\n"
            'driver = "vfs"\n'
            f'graphroot = "{root / "storage"}"\n'
            f'runroot = "{root / "run"}"\n'
        ),
    }


def write_config(root: Path, insecure_registries=()) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in config_files(root, insecure_registries).items():
        (root / name).write_text(text)


def service_command(root: Path) -> list[str]:
    """`podman system service` serving the Docker-compatible API on the folder's socket."""
    return ["podman", "system", "service", "--time=0", socket_url(root)]


def process_env(root: Path) -> dict[str, str]:
    """The environment to run `podman` in: this one, without DOCKER_HOST, plus the folder's."""
    return {key: value for key, value in os.environ.items() if key != "DOCKER_HOST"} | env(root)
