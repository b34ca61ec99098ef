"""The narrow interface every container engine implements (Docker/Podman now, Kubernetes later).

Besides building and stopping containers, an engine runs processes in a running workspace:
`engine.exec(container_id, ExecSpec(...))` starts one and returns an `ExecProcess`, the one
primitive behind wsep (app/exec) and the SSH gateway (app/ssh). How to drive one:

- **From a plain thread** (wsep under gunicorn): `read(timeout)` waits for output and returns
  `[(STDOUT|STDERR, bytes), ...]`, `[]` when the timeout passed first, `None` once all output has
  been read. `write(data)` blocks until the process has taken every byte; `send(data)` never
  blocks and says how many bytes were taken (0: try again when `fileno()` is writable). A thread
  that both reads and writes must use `send` and a selector on `fileno()`: a blocking `write`
  to a process that is itself blocked writing output nobody reads is a deadlock.
- **From asyncio** (the SSH gateway): start it in a thread (`await asyncio.to_thread(engine.exec,
  ...)`), then `loop.add_reader(p.fileno(), cb)` with `cb` calling `p.read(0)` (never blocks),
  and `p.send()` plus `loop.add_writer` for stdin (or `await asyncio.to_thread(p.write, data)`).
  `wait`, `resize`, `signal` and `close` call the engine's API: run them with `asyncio.to_thread`.
- Output is binary-clean. Without a TTY stdout and stderr arrive apart; with one, everything is
  stdout and `close_stdin` cannot end the input (a terminal has no end of file: the program reads
  ^D, byte 4, as one in its cooked mode).
- The engine does not end a process when its caller goes away: call `close()` (it signals the
  process, then kills it) in a `finally`. `signal()` reaches the process and everything it started
  that kept its environment (they carry `EXEC_MARKER`); it needs `sh`, `grep` and `/proc` in the
  image, which every workspace image has.
- A TTY's first size is `ExecSpec.rows`/`cols` (Podman applies it; Docker only from API 1.42
  on, so call `resize` once it runs). Podman applies resizes asynchronously and two sent close
  together may land in either order: send the size at start, then only when it changes.
- `pid` is the engine's number for the process (the host's PID namespace on Docker and Podman),
  0 if it ended before it could be read; the exit code is the process's, or 128 + signal number.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
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


STDOUT, STDERR = 1, 2
# Every process an exec starts carries this variable (a value of its own) in its environment, so
# that a signal reaches it and whatever it started, whatever PID namespace they run in.
EXEC_MARKER = "PYCODERD_EXEC_ID"


@dataclass(frozen=True)
class ExecSpec:
    """One process to start in a running workspace container."""

    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)  # on top of the container's own
    working_dir: str = ""  # empty: the container's working directory
    user: str = ""  # "uid", "uid:gid" or a user name; empty: the container's user
    tty: bool = False
    rows: int = 0  # the terminal's first size (with tty; 0: the engine's default)
    cols: int = 0
    stdin: bool = True  # attach stdin (without it the process reads end of file at once)


class ExecProcess(Protocol):
    """A process started by `Engine.exec` (see the module docstring for how to drive one)."""

    pid: int
    tty: bool

    def fileno(self) -> int:
        """The connection to watch for readability (output) and writability (stdin)."""

    def read(self, timeout: float | None = None) -> list[tuple[int, bytes]] | None:
        """Output as [(STDOUT or STDERR, bytes)]; [] after `timeout` s; None: no more output."""

    def send(self, data: bytes) -> int:
        """Give stdin what it takes now without blocking; returns how many bytes it took."""

    def write(self, data: bytes) -> None:
        """Give stdin all of `data`, waiting as long as the process does not read."""

    def close_stdin(self) -> None:
        """End stdin: the process reads end of file (without a TTY)."""

    def resize(self, rows: int, cols: int) -> None:
        """Set the terminal's size (with a TTY; ignored without one)."""

    def wait(self, timeout: float | None = None) -> int:
        """The exit code, once the process has ended; TimeoutError after `timeout` s."""

    def signal(self, signum: int) -> None:
        """Send a signal to the process and to what it started."""

    def close(self) -> None:
        """End the process if it still runs (SIGHUP, then SIGKILL) and release the connection."""


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

    def exec(self, container_id: str, spec: ExecSpec) -> ExecProcess:
        """Start a process in the running container; EngineError if it cannot start."""

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
