"""Processes in a running container through the Docker Engine API's exec (Docker and Podman).

The exec is created through the SDK, but started on a connection of its own: the SDK's hijacked
socket loses whatever output arrived in the HTTP reader's buffer together with the response
head, and this module keeps those bytes. See app.provisioner.engine for how to drive a process.
"""

from __future__ import annotations

import json
import logging
import secrets
import select
import signal as signals
import socket
import time
from urllib.parse import urlsplit

from docker import errors as docker_errors

from app.provisioner.engine import EXEC_MARKER, STDERR, STDOUT, EngineError, ExecSpec

log = logging.getLogger("pycoderd.provisioner")

CHUNK = 64 * 1024
HEAD_LIMIT = 64 * 1024  # the start answer's head and error body, at most
START_TIMEOUT = 30.0  # seconds for the engine to answer the start request
PID_WAIT = 1.0  # how long start waits for the engine to name the process's pid
CLOSE_GRACE = 2.0  # close: seconds between SIGHUP and SIGKILL, and after SIGKILL
# Signals every process of the container whose environment holds the marker (and only those).
_KILLER = (
    'for d in /proc/[0-9]*; do grep -q "$1" "$d/environ" 2>/dev/null && kill -s "$2" "${d#/proc/}"'
    " 2>/dev/null; done; exit 0"
)


def _message(exc: Exception) -> str:
    if isinstance(exc, docker_errors.APIError):
        return str(exc.explanation or exc)
    return str(exc)


def start(api, base_url: str, container_id: str, spec: ExecSpec) -> DockerExecProcess:
    """Create and start the exec; returns once the engine has started the process."""
    if not spec.argv:
        raise EngineError("no command to run")
    marker = secrets.token_hex(12)
    try:
        created = api.exec_create(
            container_id,
            list(spec.argv),
            stdout=True,
            stderr=True,
            stdin=spec.stdin,
            tty=spec.tty,
            environment={**spec.env, EXEC_MARKER: marker},
            workdir=spec.working_dir or None,
            user=spec.user or "",
        )
    except (docker_errors.DockerException, OSError) as exc:
        raise EngineError(f"cannot run a command in the workspace: {_message(exc)}") from None
    exec_id = created["Id"]
    body = {"Detach": False, "Tty": spec.tty}
    if spec.tty and spec.rows and spec.cols:
        # Podman reads h/w; Docker reads ConsoleSize from API 1.42 on (resized below otherwise).
        body |= {"h": spec.rows, "w": spec.cols, "ConsoleSize": [spec.rows, spec.cols]}
    sock, early = _start_request(base_url, api.api_version, exec_id, body)
    process = DockerExecProcess(api, container_id, exec_id, marker, sock, early, spec.tty)
    process.pid = process.read_pid()
    return process


def _connect(base_url: str, timeout: float) -> tuple[socket.socket, str]:
    """A new connection to the engine's API and the Host header to send on it."""
    parts = urlsplit(base_url)
    try:
        if parts.scheme in ("unix", "http+unix"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            sock.connect(parts.path)
            return sock, "docker"
        if parts.scheme in ("tcp", "http"):
            host = parts.hostname or "127.0.0.1"
            port = parts.port or 2375
            sock = socket.create_connection((host, port), timeout=timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock, parts.netloc
    except OSError as exc:
        raise EngineError(f"cannot reach the Docker API at {base_url}: {exc}") from None
    raise EngineError(
        f"running commands needs a unix:// or tcp:// Docker API address, not {base_url}"
    )


def _start_request(
    base_url: str, api_version: str, exec_id: str, body: dict
) -> tuple[socket.socket, bytes]:
    """POST /exec/{id}/start with an upgrade; returns the raw stream and the bytes read past the
    response head."""
    sock, host = _connect(base_url, START_TIMEOUT)
    payload = json.dumps(body).encode()
    head = (
        f"POST /v{api_version}/exec/{exec_id}/start HTTP/1.1\r\n"
        f"Host: {host}\r\n"
        "Content-Type: application/json\r\n"
        "Connection: Upgrade\r\n"
        "Upgrade: tcp\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    ).encode()
    try:
        sock.sendall(head + payload)
        received = bytearray()
        while b"\r\n\r\n" not in received:
            data = sock.recv(CHUNK)
            if not data:
                raise EngineError(
                    "the engine closed the connection instead of starting the command"
                )
            received += data
            if len(received) > HEAD_LIMIT:
                raise EngineError("the engine's answer to the start request is too long")
        head_bytes, _, rest = bytes(received).partition(b"\r\n\r\n")
        status_line, *header_lines = head_bytes.decode("latin-1").split("\r\n")
        try:
            status = int(status_line.split()[1])
        except (IndexError, ValueError):
            raise EngineError(f"unexpected answer from the engine: {status_line[:100]}") from None
        if status in (101, 200):
            sock.setblocking(False)
            return sock, rest
        raise EngineError(f"the command did not start: {_error_text(sock, header_lines, rest)}")
    except TimeoutError:
        sock.close()
        raise EngineError(
            f"the engine did not start the command within {START_TIMEOUT:g} s"
        ) from None
    except OSError as exc:
        sock.close()
        raise EngineError(f"starting the command failed: {exc}") from None
    except EngineError:
        sock.close()
        raise


def _error_text(sock, header_lines: list[str], rest: bytes) -> str:
    """The message of an engine's error answer (`{"message": ...}`), read within limits."""
    length = 0
    for line in header_lines:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length" and value.strip().isdigit():
            length = min(int(value), HEAD_LIMIT)
    body = bytearray(rest)
    while len(body) < length:
        data = sock.recv(CHUNK)
        if not data:
            break
        body += data
    try:
        return str(json.loads(bytes(body))["message"])
    except (ValueError, KeyError, TypeError):
        return bytes(body[:500]).decode("utf-8", "replace").strip() or "no reason given"


class _Demux:
    """Splits Docker's multiplexed stream (8-byte headers: stream, 0, 0, 0, big-endian size)
    into (stream, bytes) as the bytes come, without waiting for whole frames."""

    def __init__(self, tty: bool):
        self.tty = tty
        self.header = bytearray()
        self.stream = STDOUT
        self.left = 0

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        if self.tty:
            return [(STDOUT, data)] if data else []
        out: list[tuple[int, bytes]] = []
        pos, end = 0, len(data)
        while pos < end:
            if not self.left:
                take = min(8 - len(self.header), end - pos)
                self.header += data[pos : pos + take]
                pos += take
                if len(self.header) == 8:
                    # 1 stdout; 2 stderr; Docker's 3 (its own error text) reads as stderr.
                    self.stream = STDOUT if self.header[0] in (0, 1) else STDERR
                    self.left = int.from_bytes(self.header[4:8], "big")
                    self.header.clear()
                continue
            take = min(self.left, end - pos)
            chunk = data[pos : pos + take]
            pos += take
            self.left -= take
            if out and out[-1][0] == self.stream:
                out[-1] = (self.stream, out[-1][1] + chunk)
            else:
                out.append((self.stream, chunk))
        return out


class DockerExecProcess:
    """One exec'd process: its raw stream (non-blocking) and the engine's API for the rest."""

    def __init__(self, api, container_id, exec_id, marker, sock, early: bytes, tty: bool):
        self.api = api
        self.container_id = container_id
        self.exec_id = exec_id
        self.marker = marker
        self.sock = sock
        self.tty = tty
        self.pid = 0
        self._early = early
        self._demux = _Demux(tty)
        self._eof = False
        self._exit_code: int | None = None

    # ---------------------------------------------------------------- the stream

    def fileno(self) -> int:
        return self.sock.fileno()

    def read(self, timeout: float | None = None) -> list[tuple[int, bytes]] | None:
        if self._eof:
            return None
        if self._early:
            early, self._early = self._early, b""
            return self._demux.feed(early)
        if timeout is None or timeout > 0:
            readable, _, _ = select.select([self.sock], [], [], timeout)
            if not readable:
                return []
        try:
            data = self.sock.recv(CHUNK)
        except (BlockingIOError, InterruptedError):
            return []
        except OSError:
            data = b""  # reset by the engine: the stream is over all the same
        if not data:
            self._eof = True
            return None
        return self._demux.feed(data)

    def send(self, data: bytes) -> int:
        try:
            return self.sock.send(data)
        except (BlockingIOError, InterruptedError):
            return 0

    def write(self, data: bytes) -> None:
        with memoryview(data) as view:
            while view:
                sent = self.send(view)
                if not sent:
                    select.select([], [self.sock], [])
                view = view[sent:]

    def close_stdin(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # already closed by the engine: the process's stdin is gone too

    # ---------------------------------------------------------------- the engine's API

    def _inspect(self) -> dict:
        try:
            return self.api.exec_inspect(self.exec_id)
        except (docker_errors.DockerException, OSError) as exc:
            raise EngineError(f"inspecting the command failed: {_message(exc)}") from None

    def read_pid(self) -> int:
        """The process's pid once the engine names it (0 if it ended before that)."""
        deadline = time.monotonic() + PID_WAIT
        while True:
            info = self._inspect()
            if info.get("Pid") or not info.get("Running") or time.monotonic() > deadline:
                self._note_exit(info)
                return int(info.get("Pid") or 0)
            time.sleep(0.01)

    def _note_exit(self, info: dict) -> None:
        if not info.get("Running") and info.get("ExitCode") is not None:
            self._exit_code = int(info["ExitCode"])

    def poll(self) -> int | None:
        """The exit code if the process has ended, else None."""
        if self._exit_code is None:
            self._note_exit(self._inspect())
        return self._exit_code

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = 0.01
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError("the process is still running")
            time.sleep(
                pause if deadline is None else max(0, min(pause, deadline - time.monotonic()))
            )
            pause = min(pause * 2, 0.25)
        return code

    def resize(self, rows: int, cols: int) -> None:
        if not self.tty:
            return
        try:
            self.api.exec_resize(self.exec_id, height=rows, width=cols)
        except (docker_errors.DockerException, OSError) as exc:
            raise EngineError(f"resizing the terminal failed: {_message(exc)}") from None

    def signal(self, signum: int) -> None:
        name = signals.Signals(signum).name.removeprefix("SIG")
        try:
            created = self.api.exec_create(
                self.container_id,
                ["sh", "-c", _KILLER, "sh", f"{EXEC_MARKER}={self.marker}", name],
                user="0",
            )
            self.api.exec_start(created["Id"])
        except (docker_errors.DockerException, OSError) as exc:
            raise EngineError(f"signalling the command failed: {_message(exc)}") from None

    def close(self) -> None:
        try:
            if self.poll() is None:
                for signum in (signals.SIGHUP, signals.SIGKILL):
                    self.signal(signum)
                    try:
                        self.wait(CLOSE_GRACE)
                        break
                    except TimeoutError:
                        continue
        except EngineError as exc:
            log.warning(
                "could not end the command %s in %s: %s", self.exec_id, self.container_id, exc
            )
        finally:
            self.sock.close()
