"""The Docker engine: Docker or Podman's compatible API through the `docker` SDK."""

from __future__ import annotations

import ipaddress

import docker
from docker import errors as docker_errors

from app.provisioner import docker_exec
from app.provisioner.engine import (
    ContainerSpec,
    ContainerState,
    Credentials,
    EngineError,
    ExecSpec,
    volume_name,
)

API_TIMEOUT = 120  # seconds; pulls of large images take long
STOP_TIMEOUT = 10
# Pinned: asking the engine for its version costs a round trip (half a second on Podman) per
# client. 1.41 is served by Docker 20.10+ and Podman 3+.
API_VERSION = "1.41"


def _message(exc: Exception) -> str:
    """The engine's own explanation, without the SDK's HTTP wrapping."""
    if isinstance(exc, docker_errors.APIError):
        return str(exc.explanation or exc)
    return str(exc)


class DockerEngine:
    def __init__(self, base_url: str, tls=None):
        self.base_url = base_url
        self.tls = tls
        try:
            self.client = docker.DockerClient(
                base_url=base_url,
                version=API_VERSION,
                timeout=API_TIMEOUT,
                tls=tls or False,
                # ssh://: the system's ssh client (the keys, agent and known_hosts of the user
                # pycoderd runs as), not paramiko.
                use_ssh_client=base_url.startswith("ssh://"),
            )
        except docker_errors.DockerException as exc:
            raise EngineError(f"cannot use the Docker API at {base_url}: {exc}") from None

    def close(self) -> None:
        self.client.close()

    def ping(self, timeout: float) -> None:
        """Check that the engine answers its API within `timeout` seconds."""
        api = self.client.api
        try:
            # The SDK's own ping has no timeout of its own: the same request with one.
            response = api._get(api._url("/_ping"), timeout=timeout)
            api._raise_for_status(response)
        except (docker_errors.DockerException, OSError) as exc:  # requests' errors are OSErrors
            raise EngineError(f"the engine does not answer: {_message(exc)}") from None

    def pull(self, image: str, credentials: Credentials) -> None:
        repository, _, tag = image.rpartition(":")
        if "/" in tag:  # a registry port, not a tag
            repository, tag = image, "latest"
        auth = None
        if credentials.username:
            auth = {"username": credentials.username, "password": credentials.password}
        try:
            self.client.images.pull(repository, tag=tag, auth_config=auth)
        except (docker_errors.DockerException, OSError) as exc:
            raise EngineError(f"pulling {image} failed: {_message(exc)}") from None

    def create(self, spec: ContainerSpec) -> str:
        try:
            self._ensure_volume(spec)
            container = self.client.containers.create(
                spec.image,
                name=spec.container_name,
                hostname=spec.workspace_name,
                labels=spec.labels,
                # Hard limits: CPU quota in nano-CPUs, memory without extra swap.
                nano_cpus=int(spec.cpu_cores * 1e9),
                mem_limit=spec.memory_bytes,
                memswap_limit=spec.memory_bytes,
                volumes={spec.volume_name: {"bind": spec.home, "mode": "rw"}},
                network_mode=spec.network,
                environment={"HOME": spec.home, "USER": spec.username},
                working_dir=spec.home,
                # A shell image keeps running with a terminal attached, like a login session.
                tty=True,
                stdin_open=True,
                detach=True,
            )
        except (docker_errors.DockerException, OSError) as exc:
            raise EngineError(f"creating the container failed: {_message(exc)}") from None
        return container.id

    def _ensure_volume(self, spec: ContainerSpec) -> None:
        try:
            self.client.volumes.get(spec.volume_name)
        except docker_errors.NotFound:
            self.client.volumes.create(spec.volume_name, labels=spec.labels)

    def start(self, container_id: str) -> None:
        try:
            self.client.api.start(container_id)
        except (docker_errors.DockerException, OSError) as exc:
            raise EngineError(f"starting the container failed: {_message(exc)}") from None

    def stop(self, container_id: str) -> None:
        api = self.client.api
        _gone_is_fine("stopping the container", lambda: api.stop(container_id, STOP_TIMEOUT))

    def remove_container(self, container_id: str) -> None:
        api = self.client.api
        if container_id:
            _gone_is_fine(
                "removing the container", lambda: api.remove_container(container_id, force=True)
            )

    def remove_volume(self, workspace_id: str) -> None:
        api = self.client.api
        name = volume_name(workspace_id)
        _gone_is_fine("removing the home volume", lambda: api.remove_volume(name, force=True))

    def state(self, container_id: str, *, with_stats: bool = False) -> ContainerState:
        try:
            info = self.client.api.inspect_container(container_id)
        except docker_errors.NotFound:
            return ContainerState(exists=False)
        except (docker_errors.DockerException, OSError) as exc:
            raise EngineError(f"inspecting the container failed: {_message(exc)}") from None
        state = info.get("State") or {}
        running = bool(state.get("Running"))
        memory_total = int((info.get("HostConfig") or {}).get("Memory") or 0)
        address = container_address(info) if running else ""
        if not (with_stats and running):
            return ContainerState(
                exists=True,
                running=running,
                status=state.get("Status", ""),
                address=address,
                memory_total=memory_total,
            )
        try:
            stats = self.client.api.stats(container_id, stream=False)
        except (docker_errors.DockerException, OSError) as exc:
            raise EngineError(f"reading container stats failed: {_message(exc)}") from None
        memory = stats.get("memory_stats") or {}
        return ContainerState(
            exists=True,
            running=True,
            status=state.get("Status", ""),
            address=address,
            cpu_usage=cpu_cores_used(stats),
            memory_usage=int(memory.get("usage") or 0),
            memory_total=memory_total or int(memory.get("limit") or 0),
            disk_used=int(info.get("SizeRw") or 0),
        )

    def exec(self, container_id: str, spec: ExecSpec) -> docker_exec.DockerExecProcess:
        """Start a process in the running container (see app.provisioner.engine)."""
        if self.tls:
            # The exec stream is a raw socket driven by fileno(); over TLS its buffered bytes
            # and its half-close (end of stdin) need work that is not done yet.
            raise EngineError(
                "running commands on an engine reached over TLS is not supported yet: reach "
                "this resource pool's engine by a unix socket or plain tcp:// on a private link"
            )
        return docker_exec.start(self.client.api, self.base_url, container_id, spec)


def container_address(info: dict) -> str:
    """The address of an inspected container: loopback on the host network, else its IP on its
    network (IPv4 first, then global IPv6); empty when the engine names none."""
    mode = (info.get("HostConfig") or {}).get("NetworkMode") or ""
    if mode == "host":
        return "127.0.0.1"
    settings = info.get("NetworkSettings") or {}
    networks = settings.get("Networks") or {}
    # The container's own network first (Docker's "bridge"; Podman names it "podman").
    endpoints = [networks[mode]] if mode in networks else []
    endpoints += [networks[name] for name in sorted(networks) if name != mode]
    endpoints.append(settings)  # the legacy top-level fields of the default bridge
    for key in ("IPAddress", "GlobalIPv6Address"):
        for endpoint in endpoints:
            candidate = ((endpoint or {}).get(key) or "").strip()
            try:
                return str(ipaddress.ip_address(candidate))
            except ValueError:
                continue
    return ""


def _gone_is_fine(action: str, call) -> None:
    """Run an engine call for which "no such object" already means done."""
    try:
        call()
    except docker_errors.NotFound:
        return
    except (docker_errors.DockerException, OSError) as exc:
        raise EngineError(f"{action} failed: {_message(exc)}") from None


def cpu_cores_used(stats: dict) -> float:
    """Cores in use between the two samples of a Docker stats answer."""
    cpu, pre = stats.get("cpu_stats") or {}, stats.get("precpu_stats") or {}
    used = (cpu.get("cpu_usage") or {}).get("total_usage", 0) - (pre.get("cpu_usage") or {}).get(
        "total_usage", 0
    )
    system = (cpu.get("system_cpu_usage") or 0) - (pre.get("system_cpu_usage") or 0)
    online = cpu.get("online_cpus") or 1
    if used <= 0 or system <= 0:
        return 0.0
    return round(used / system * online, 4)
