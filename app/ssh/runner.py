"""The SSH gateway's process: one per `pycoderd server`, beside gunicorn and the background process.

`pycoderd server` binds the listening socket itself (`listen`), so a bad or taken address
stops it at start with one line, then hands the socket to this process (`start_process`), which
serves until SIGTERM or until the server is gone. gunicorn's workers never hold the socket.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import subprocess
import sys

from app.provisioner import background

log = logging.getLogger("pycoderd.ssh")
PARENT_CHECK_SECONDS = 1.0


class ListenError(RuntimeError):
    pass


def listen(address: str) -> socket.socket:
    """A listening TCP socket on `host:port` (`[::]:22` for IPv6; port 0 picks a free one)."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]") or "0.0.0.0"
    try:
        family, kind, proto, _, sockaddr = socket.getaddrinfo(
            host, int(port), type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except (OSError, ValueError) as exc:
        raise ListenError(f"CODER_SSH_ADDRESS: cannot listen on {address}: {exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(sockaddr)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ListenError(
            f"CODER_SSH_ADDRESS: cannot listen on {address}: {exc.strerror or exc}"
        ) from None
    return sock


def address_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def start_process(flags: dict, sock: socket.socket) -> subprocess.Popen:
    """Start the gateway's process on this listening socket (it keeps its own copy)."""
    fd = sock.fileno()
    return subprocess.Popen(
        [sys.executable, "-m", "app.ssh.runner", json.dumps(flags), str(os.getpid()), str(fd)],
        pass_fds=(fd,),
    )


stop_process = background.stop_process


async def _serve(gateway, sock, parent_pid: int) -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)

    async def watch_parent():
        while not stopping.is_set():
            if os.getppid() != parent_pid:
                log.warning("the server process is gone; stopping the SSH gateway")
                stopping.set()
            await asyncio.sleep(PARENT_CHECK_SECONDS)

    watcher = asyncio.create_task(watch_parent())
    try:
        await gateway.serve(sock, stopping)
    finally:
        watcher.cancel()


def main(argv: list[str]) -> int:
    from app import create_app
    from app.ssh import host_key, server

    flags, parent_pid, fd = json.loads(argv[0]), int(argv[1]), int(argv[2])
    sock = socket.socket(fileno=fd)
    app = create_app({"OPTION_FLAGS": flags})
    logging.getLogger("asyncssh").setLevel(logging.WARNING)
    try:
        key = host_key.load_or_create(app.config["SECRET_KEY"])
    except host_key.HostKeyError as exc:
        log.error("SSH gateway not started: %s", exc)
        return 1
    gateway = server.Gateway(
        app.config["SETTINGS"],
        key.private_key,
        app.config["BUILD_VERSION"],
        secret_key=app.config["SECRET_KEY"],
    )
    asyncio.run(_serve(gateway, sock, parent_pid))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
