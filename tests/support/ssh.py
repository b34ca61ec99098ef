"""Debian's OpenSSH client against the gateway: a private home, the user's key, a known host key.

Every run is `ssh -F /dev/null` (no user or system configuration), key-only, batch mode, with a
known_hosts file that holds exactly the gateway's stored host key (StrictHostKeyChecking=yes):
a connection that works proves the gateway showed that key.
"""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import processes
from tests.support.podman import wait_for

IN_CI = os.environ.get("CI") == "true"
SSH = shutil.which("ssh") or "/usr/bin/ssh"
SSH_KEYSCAN = shutil.which("ssh-keyscan") or "/usr/bin/ssh-keyscan"


def require_client(*tools: str) -> None:
    missing = [tool for tool in (SSH, *tools) if shutil.which(tool) is None]
    if missing:
        message = f"{', '.join(missing)} not installed: needs Debian's openssh-client and tmux"
        message += " (bash .ci/services.sh)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


def write_key(path: Path, private_key: str) -> Path:
    path.write_text(private_key)
    path.chmod(0o600)  # ssh refuses keys others may read
    return path


@dataclass
class Client:
    home: Path
    port: int
    host_key: str  # "ssh-ed25519 AAAA…"
    host: str = "127.0.0.1"

    def __post_init__(self):
        self.home.mkdir(parents=True, exist_ok=True)
        self.known_hosts = self.home / "known_hosts"
        self.known_hosts.write_text(f"[{self.host}]:{self.port} {self.host_key}\n")

    def options(self, key: Path, *extra: str) -> list[str]:
        # ssh keeps the first value it reads for an option: the caller's come first.
        return [
            *extra,
            "-F",
            "/dev/null",
            "-p",
            str(self.port),
            "-i",
            str(key),
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            f"UserKnownHostsFile={self.known_hosts}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=20",
            "-o",
            "LogLevel=ERROR",
        ]

    def argv(self, login: str, key: Path, *args: str, options=()) -> list[str]:
        return [SSH, *self.options(key, *options), f"{login}@{self.host}", *args]

    def run(
        self, login: str, key: Path, *args: str, options=(), input=None, timeout=120, env=None
    ) -> subprocess.CompletedProcess:
        """Run ssh to the end; bytes in, bytes out."""
        return subprocess.run(
            self.argv(login, key, *args, options=options),
            input=input,
            capture_output=True,
            timeout=timeout,
            env=self.env() | (env or {}),
        )

    def start(self, login: str, key: Path, *args: str, options=(), **popen) -> subprocess.Popen:
        """ssh in the background (it dies with the test run); stop it by its pid."""
        argv = self.argv(login, key, *args, options=options)
        return processes.start(argv, env=self.env(), **popen)

    def env(self) -> dict:
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.home)}


def wait_for_banner(host: str, port: int, timeout: float = 90) -> str:
    """The gateway's version line, once its process (started after the server answers HTTP)
    serves: connections made before then wait in the listening socket's queue."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        return sock.makefile("rb").readline().decode()


def keyscan(host: str, port: int) -> str:
    """The host key the gateway shows, as "ssh-ed25519 AAAA…"."""
    result = subprocess.run(
        [SSH_KEYSCAN, "-T", "30", "-t", "ed25519", "-p", str(port), host],
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = [line for line in result.stdout.splitlines() if not line.startswith("#")]
    assert lines, result.stderr
    return " ".join(lines[0].split()[1:3])


class Terminal:
    """A real terminal for ssh: a tmux server of its own (foreground, stopped by its pid)."""

    def __init__(self, socket_path: Path, env: dict):
        self.socket = socket_path
        self.env = env | {"TERM": "xterm-256color"}
        self.server = None

    def tmux(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-S", str(self.socket), "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            timeout=30,
            env=self.env,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def open(self, argv: list[str], cols: int, rows: int) -> None:
        self.server = processes.start(
            ["tmux", "-S", str(self.socket), "-f", "/dev/null", "-D"],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self.socket.exists, 10, "the tmux server")
        command = shlex.join(argv)
        self.tmux("new-session", "-d", "-s", "t", "-x", str(cols), "-y", str(rows), command)
        self.tmux("set-option", "-t", "t", "remain-on-exit", "on")

    def type(self, line: str) -> None:
        self.tmux("send-keys", "-t", "t", line, "Enter")

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "t")

    def wait_for(self, text: str, timeout: float = 30, retype: str = "") -> None:
        """Wait for `text` on the screen, typing `retype` again every second meanwhile."""

        def shown() -> bool:
            if text in self.screen():
                return True
            if retype:
                self.type(retype)
            return False

        try:
            wait_for(shown, timeout, f"{text!r} on the screen", interval=1.0 if retype else 0.1)
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}; the screen:\n{self.screen()}") from None

    def resize(self, cols: int, rows: int) -> None:
        self.tmux("resize-window", "-t", "t", "-x", str(cols), "-y", str(rows))

    def exit_status(self, timeout: float = 30) -> int:
        def dead():
            state = self.tmux(
                "display-message", "-p", "-t", "t", "#{pane_dead} #{pane_dead_status}"
            )
            flag, _, status = state.strip().partition(" ")
            return status if flag == "1" else None

        return int(wait_for(dead, timeout, "ssh to end"))

    def close(self) -> None:
        if self.server is not None and self.server.poll() is None:
            self.server.terminate()
            self.server.wait(10)
