"""The narrow interface every container engine implements (Docker/Podman now, Kubernetes later)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Protocol

LABEL_PREFIX = "com.coder."
GIB = 1024**3


class EngineError(Exception):
    """The engine refused or failed; the message is shown to users in the build log."""


class NoEngine(EngineError):
    """No engine is configured."""

    def __init__(self):
        super().__init__(
            "No container engine is configured: set CODER_DOCKER_HOST (or DOCKER_HOST) to a "
            "Docker or Podman API socket, e.g. unix:///run/podman/podman.sock, and rebuild."
        )


@dataclass(frozen=True)
class Credentials:
    username: str = ""
    password: str = ""


@dataclass(frozen=True)
class ContainerSpec:
    """Everything an engine needs to run one workspace."""

    workspace_id: str
    workspace_name: str
    user_id: str
    username: str
    organization_id: str
    image: str  # registry/repository:tag
    cpu_cores: float
    memory_gb: float
    network: str = "bridge"  # bridge | host
    credentials: Credentials = field(default_factory=Credentials)

    @property
    def container_name(self) -> str:
        return f"coder-{self.username}-{self.workspace_name}-{self.workspace_id[:8]}"

    @property
    def volume_name(self) -> str:
        return volume_name(self.workspace_id)

    @property
    def home(self) -> str:
        return f"/home/{self.username}"

    @property
    def memory_bytes(self) -> int:
        return int(self.memory_gb * GIB)

    @property
    def labels(self) -> dict:
        return {
            LABEL_PREFIX + "workspace_id": self.workspace_id,
            LABEL_PREFIX + "workspace_name": self.workspace_name,
            LABEL_PREFIX + "user_id": self.user_id,
            LABEL_PREFIX + "username": self.username,
            LABEL_PREFIX + "organization_id": self.organization_id,
        }


def volume_name(workspace_id: str) -> str:
    """The home volume of a workspace: it outlives containers, only delete removes it."""
    return f"coder-home-{workspace_id}"


@dataclass(frozen=True)
class ContainerState:
    """What the engine says about a container right now."""

    exists: bool
    running: bool = False
    status: str = ""  # the engine's own word (running, exited, …)
    # Where this machine reaches the running container's ports: 127.0.0.1 on the host network,
    # the container's IP on a bridge; empty when it is not running or the engine names none.
    address: str = ""
    cpu_usage: float = 0.0  # cores
    memory_usage: int = 0
    memory_total: int = 0
    disk_used: int = 0


class Engine(Protocol):
    def pull(self, image: str, credentials: Credentials) -> None: ...

    def create(self, spec: ContainerSpec) -> str:
        """Create the container (and its home volume if new); return the container id."""

    def start(self, container_id: str) -> None: ...

    def stop(self, container_id: str) -> None: ...

    def remove_container(self, container_id: str) -> None:
        """Remove the container if it exists (the home volume stays)."""

    def remove_volume(self, workspace_id: str) -> None: ...

    def state(self, container_id: str, *, with_stats: bool = False) -> ContainerState: ...

    def close(self) -> None: ...


def docker_host(settings) -> str:
    """CODER_DOCKER_HOST, else DOCKER_HOST from the environment, else empty (no engine)."""
    return settings["pycoderd.docker_host"] or os.environ.get("DOCKER_HOST", "")


def from_settings(settings) -> Engine:
    """The configured engine; raises NoEngine when there is none."""
    host = docker_host(settings)
    if not host:
        raise NoEngine()
    from app.provisioner import docker_engine

    return docker_engine.DockerEngine(host)
