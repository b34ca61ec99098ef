"""The SSH gateway's protocol side (asyncssh): logins and port forwarding.

One asyncio loop serves every connection. Blocking work (database reads, the container
engine's API) runs in a small thread pool of its own.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from concurrent.futures import ThreadPoolExecutor

import asyncssh

from app.ssh import logins

log = logging.getLogger("pycoderd.ssh")

# The destinations of `ssh -L` that mean "the workspace itself"; the connection goes to the
# workspace's own address (its container's IP on a bridge, 127.0.0.1 on the host network).
LOCAL_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "ip6-localhost", "0.0.0.0"})
CHECK_SECONDS = 60.0  # how often an open connection marks its workspace used and is re-checked
CONNECT_SECONDS = 30.0  # a forwarded connection's connect to the workspace


class Gateway:
    """Everything the connections share: settings, the host key, the thread pool."""

    def __init__(self, settings, host_key: str, version: str = ""):
        self.settings = settings
        self.network = settings["pycoderd.workspace_network"]
        self.host_key = asyncssh.import_private_key(host_key)
        self.version = version
        self.executor = ThreadPoolExecutor(max_workers=16, thread_name_prefix="ssh")
        self.connections: set[Connection] = set()

    async def blocking(self, function, *args):
        return await asyncio.get_running_loop().run_in_executor(self.executor, function, *args)

    async def serve(self, sock, stopping: asyncio.Event) -> None:
        """Accept connections on `sock` until `stopping` is set, then close every one."""
        acceptor = await asyncssh.listen(
            sock=sock,
            server_factory=lambda: Connection(self),
            server_host_keys=[self.host_key],
            server_version=f"pycoderd_{self.version}" if self.version else "pycoderd",
            encoding=None,  # bytes both ways: binary-clean stdio and forwarding
            line_editor=False,
            allow_pty=True,
            agent_forwarding=False,
            x11_forwarding=False,
            gss_host=None,
            login_timeout=60,
            keepalive_interval=30,
            keepalive_count_max=3,
        )
        log.info("SSH gateway listening on %s", _sockname(sock))
        try:
            await stopping.wait()
        finally:
            acceptor.close()
            await self.close_all()
            self.executor.shutdown(wait=False, cancel_futures=True)

    async def close_all(self) -> None:
        for connection in list(self.connections):
            connection.close("the server is shutting down")


def _sockname(sock) -> str:
    host, port = sock.getsockname()[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Connection(asyncssh.SSHServer):
    """One client connection: its login, its checks, its channels."""

    def __init__(self, gateway: Gateway):
        self.gateway = gateway
        self.id = str(uuid.uuid4())
        self.conn: asyncssh.SSHServerConnection | None = None
        self.peer = ""
        self.login_name = ""
        self.login: logins.Login | None = None
        self.key_blob = b""
        self._checker: asyncio.Task | None = None

    # --- connection and authentication ------------------------------------------------------

    def connection_made(self, conn) -> None:
        self.conn = conn
        peer = conn.get_extra_info("peername") or ("", 0)
        self.peer = peer[0]
        self.gateway.connections.add(self)

    def connection_lost(self, exc) -> None:
        self.gateway.connections.discard(self)
        if self._checker is not None:
            self._checker.cancel()
        if self.login is not None:
            log.info("ssh %s: %s from %s disconnected", self.id, self.login_name, self.peer)

    def begin_auth(self, username: str) -> bool:
        self.login_name = username
        return True  # always ask for a key

    def public_key_auth_supported(self) -> bool:
        return True

    async def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        blob = key.public_data
        login = await self.gateway.blocking(logins.authorize, username, blob)
        if login is None:
            fingerprint = key.get_fingerprint()
            log.info("ssh %s: key %s refused for %r", self.id, fingerprint, username[:100])
            return False
        # asyncssh verifies the signature after this; the last key accepted is the one used.
        self.login, self.key_blob = login, blob
        return True

    def auth_completed(self) -> None:
        log.info("ssh %s: %s logged in from %s", self.id, self.login_name, self.peer)
        self._checker = self.conn.create_task(self._check_periodically())

    async def _check_periodically(self) -> None:
        """Record the connection (audit, activity), then re-check it every minute."""
        client = self.conn.get_extra_info("client_version") or ""
        await self._quietly(logins.audit_connect, self.login, self.peer, client, self.id)
        while True:
            await self._quietly(logins.mark_used, self.login)
            await asyncio.sleep(CHECK_SECONDS)
            allowed = await self._quietly(
                logins.still_allowed, self.login, self.login_name, self.key_blob
            )
            if allowed is False:
                log.info("ssh %s: access of %s ended", self.id, self.login_name)
                self.close("access to this workspace has ended")
                return

    async def _quietly(self, function, *args):
        """Bookkeeping that must not end the connection when the database is briefly away."""
        try:
            return await self.gateway.blocking(function, *args)
        except Exception:
            log.exception("ssh %s: %s failed", self.id, function.__name__)
            return None

    def close(self, reason: str) -> None:
        if self.conn is not None:
            self.conn.disconnect(asyncssh.DISC_BY_APPLICATION, reason)

    async def _target(self) -> logins.Target:
        try:
            return await self.gateway.blocking(
                logins.target, self.login, self.login_name, self.key_blob, self.gateway.network
            )
        except logins.Refused as exc:
            raise asyncssh.ChannelOpenError(asyncssh.OPEN_CONNECT_FAILED, str(exc)) from None

    # --- channels -------------------------------------------------------------------------

    def session_requested(self):
        # Shells and commands come with the container engine's exec API.
        raise asyncssh.ChannelOpenError(
            asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED,
            "Shells and commands are not available yet; port forwarding is (ssh -N -L).",
        )

    def connection_requested(self, dest_host: str, dest_port: int, orig_host, orig_port):
        local = dest_host.lower() in LOCAL_NAMES | {self.login.workspace_name.lower()}
        if not local or not 0 < dest_port < 65536:
            raise asyncssh.ChannelOpenError(
                asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED,
                f'Only the workspace\'s own ports can be forwarded (use "localhost:{dest_port}").',
            )
        return self._forward(dest_port)

    async def _forward(self, port: int):
        target = await self._target()
        if not target.address:
            raise asyncssh.ChannelOpenError(
                asyncssh.OPEN_CONNECT_FAILED,
                "The workspace's address is unknown: rebuild the workspace to forward ports.",
            )
        log.info("ssh %s: %s forwards port %d", self.id, self.login_name, port)
        try:
            return await asyncio.wait_for(
                self.conn.forward_connection(target.address, port), CONNECT_SECONDS
            )
        except TimeoutError:
            raise asyncssh.ChannelOpenError(
                asyncssh.OPEN_CONNECT_FAILED,
                f"Port {port} of the workspace did not answer within {CONNECT_SECONDS:g} s.",
            ) from None

    def server_requested(self, listen_host, listen_port) -> bool:
        return False  # no remote forwarding (`ssh -R`): the gateway opens no ports
