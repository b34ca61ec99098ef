"""The SSH gateway's protocol side (asyncssh): logins, sessions and port forwarding.

One asyncio loop serves every connection. Blocking work (database reads, the container
engine's API) runs in a small thread pool of its own; a session's output and input move through
the engine's exec connection without threads (`loop.add_reader`/`add_writer` on its socket).
"""

from __future__ import annotations

import asyncio
import logging
import re
import signal
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import asyncssh

from app.db import database
from app.provisioner import engine as engines
from app.provisioner import pools
from app.services import activity
from app.ssh import forwarding, logins

log = logging.getLogger("pycoderd.ssh")

# What a client may set in a session's environment (OpenSSH's SendEnv/SetEnv): the locale, the
# time zone, colour hints and git's protocol version; everything else is dropped silently, as
# sshd's AcceptEnv does (PATH, LD_PRELOAD, HOME… stay the workspace's own).
ACCEPTED_ENV = re.compile(r"LANG|LANGUAGE|LC_[A-Z_]+|TZ|COLORTERM|NO_COLOR|GIT_PROTOCOL")
# The destinations of `ssh -L` that mean "the workspace itself"; the connection goes to the
# workspace's own address (its container's IP on a bridge, 127.0.0.1 on the host network).
LOCAL_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "ip6-localhost", "0.0.0.0"})
CHECK_SECONDS = 60.0  # how often an open connection's access is re-checked
CONNECT_SECONDS = 30.0  # a forwarded connection's connect to the workspace


STDIN_HIGH_WATER = 256 * 1024  # client input held for a process that does not read, at most
STDIN_LOW_WATER = 64 * 1024
STDIN_CHUNK = 64 * 1024
SESSION_CLOSE_SECONDS = 10.0  # how long a stopping gateway waits for processes to be hung up

# The workspace user's login shell from /etc/passwd, else /bin/sh (the images are not ours).
_SHELL = (
    "shell=$(awk -F: -v uid=\"$(id -u)\" '$3 == uid { print $7; exit }' /etc/passwd "
    '2>/dev/null); [ -x "$shell" ] || shell=/bin/sh; '
)
SFTP_SERVERS = (
    "/usr/lib/openssh/sftp-server",
    "/usr/libexec/openssh/sftp-server",
    "/usr/lib/ssh/sftp-server",
    "/usr/libexec/sftp-server",
)


def command_argv(command: str | None, subsystem: str | None) -> tuple[str, ...]:
    """The argv that runs a session's request in the workspace, as sshd would run it."""
    if subsystem == "sftp":
        candidates = " ".join(SFTP_SERVERS)
        script = (
            f'for s in {candidates}; do [ -x "$s" ] && exec "$s"; done; '
            'echo "pycoderd: this workspace has no sftp-server (install openssh-sftp-server)" >&2; '
            "exit 127"
        )
        return ("/bin/sh", "-c", script)
    if command is None:
        return ("/bin/sh", "-c", _SHELL + 'exec "$shell" -l', "sh")
    return ("/bin/sh", "-c", _SHELL + 'exec "$shell" -c "$1"', "sh", command)


def session_env(client_env, term_type: str | None) -> dict[str, str]:
    env = {
        name: value
        for name, value in client_env.items()
        if ACCEPTED_ENV.fullmatch(name) and "\x00" not in value
    }
    if term_type:
        env["TERM"] = term_type
    return env


class Gateway:
    """Everything the connections share: settings, the host key, the engine, the thread pool."""

    def __init__(self, settings, host_key: str, version: str = "", secret_key: str = ""):
        self.settings = settings
        self.secret_key = secret_key  # decrypts resource pools' engine TLS material
        self.network = settings["pycoderd.workspace_network"]
        self.host_key = asyncssh.import_private_key(host_key)
        self.version = version
        self.executor = ThreadPoolExecutor(max_workers=16, thread_name_prefix="ssh")
        self.connections: set[Connection] = set()

    def engine(self, pool_id: str):
        """The engine of a resource pool (shared, cached: app.provisioner.pools); call it in a
        worker thread (it may read the database)."""
        with database.connection_context():
            return pools.engine_for_pool_id(self.settings, self.secret_key, pool_id)

    def exec(self, target, spec):
        """Start a process in the target's container, on its pool's engine (a worker thread)."""
        return self.engine(target.pool_id).exec(target.container_id, spec)

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
        """Hang up every session's process, then disconnect every client."""
        sessions = [s for c in self.connections for s in c.sessions]
        for session in sessions:
            session.hangup()
        for connection in list(self.connections):
            connection.close("the server is shutting down")
        hangups = [s.hangup_task for s in sessions if s.hangup_task is not None]
        if hangups:
            await asyncio.wait(hangups, timeout=SESSION_CLOSE_SECONDS)


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
        self.sessions: set[Session] = set()
        self._checker: asyncio.Task | None = None
        self.activity = None  # app.services.activity.Session once logged in

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
        if self.activity is not None:
            # Idleness counts from the end of the connection (run in the pool, not awaited).
            try:
                self.gateway.executor.submit(self._close_activity, self.activity)
            except RuntimeError:  # the gateway stopped: its pool takes no more work
                pass
            self.activity = None
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
        """Record the connection (audit, activity), keep its workspace used while it stays open
        (app.services.activity's heartbeat) and re-check its access every minute."""
        client = self.conn.get_extra_info("client_version") or ""
        await self._quietly(logins.audit_connect, self.login, self.peer, client, self.id)
        self.activity = logins.activity_session(self.login)
        next_check = time.monotonic() + CHECK_SECONDS
        while True:
            await self._quietly(self.activity.beat)  # writes when a heartbeat is due
            await asyncio.sleep(min(activity.HEARTBEAT_SECONDS, CHECK_SECONDS))
            if time.monotonic() < next_check:
                continue
            next_check = time.monotonic() + CHECK_SECONDS
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

    def _close_activity(self, session) -> None:
        try:
            session.close()
        except Exception:
            log.exception("ssh %s: recording the end of the connection failed", self.id)

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
        return self._open_session()

    async def _open_session(self):
        target = await self._target()
        return Session(self, target)

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
            streams = await asyncio.wait_for(
                asyncio.open_connection(target.address, port), CONNECT_SECONDS
            )
            return forwarding.ForwardedConnection(*streams)
        except OSError as exc:
            raise asyncssh.ChannelOpenError(asyncssh.OPEN_CONNECT_FAILED, str(exc)) from None
        except TimeoutError:
            raise asyncssh.ChannelOpenError(
                asyncssh.OPEN_CONNECT_FAILED,
                f"Port {port} of the workspace did not answer within {CONNECT_SECONDS:g} s.",
            ) from None

    def server_requested(self, listen_host, listen_port) -> bool:
        return False  # no remote forwarding (`ssh -R`): the gateway opens no ports


class Session(asyncssh.SSHServerSession):
    """A shell, a command or a subsystem, run as one process in the workspace's container."""

    def __init__(self, connection: Connection, target: logins.Target):
        self.connection = connection
        self.gateway = connection.gateway
        self.target = target
        self.chan = None
        self.process = None
        self.loop = asyncio.get_running_loop()
        self.stdin = bytearray()
        self.stdin_eof = False
        self.reading_paused = False
        self.flushing = False
        self.resizing = 0  # window changes on their way to the engine
        self.output_paused = False
        self.channel_closed = False
        self.signalled: int | None = None  # the last signal sent to the process
        self.finishing = False  # all output read: _finish reports the exit and releases it
        self.tasks: set[asyncio.Task] = set()  # held here: the loop keeps only weak references
        self.hangup_task: asyncio.Task | None = None

    # --- requests before the start -----------------------------------------------------------

    def connection_made(self, chan) -> None:
        self.chan = chan
        self.connection.sessions.add(self)

    def pty_requested(self, term_type, term_size, term_modes) -> bool:
        return True

    def shell_requested(self) -> bool:
        return True

    def exec_requested(self, command: str) -> bool:
        return True

    def subsystem_requested(self, subsystem: str) -> bool:
        return subsystem == "sftp"

    def _spawn(self, coroutine) -> asyncio.Task:
        task = self.loop.create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def session_started(self) -> None:
        self._spawn(self._run())

    # --- the process -------------------------------------------------------------------------

    def _spec(self):
        chan = self.chan
        term_type = chan.get_terminal_type()
        cols, rows = chan.get_terminal_size()[:2] if term_type else (0, 0)
        return engines.ExecSpec(
            argv=command_argv(chan.get_command(), chan.get_subsystem()),
            env=session_env(chan.get_environment(), term_type),
            tty=term_type is not None,
            rows=rows,
            cols=cols,
        )

    async def _run(self) -> None:
        try:
            spec = self._spec()
            process = await self.gateway.blocking(self.gateway.exec, self.target, spec)
        except engines.EngineError as exc:
            self._fail(f"pycoderd: cannot start the process in the workspace: {exc}")
            return
        except Exception:
            log.exception("ssh %s: starting a process failed", self.connection.id)
            self._fail("pycoderd: cannot start the process in the workspace (see the server log)")
            return
        self.process = process
        if self.channel_closed:  # the client left while the process started
            self.hangup()
            return
        self.loop.add_reader(process.fileno(), self._readable)
        self._readable()  # output that came with the start answer is already read
        self._flush_stdin()

    def _fail(self, message: str) -> None:
        if not self.channel_closed:
            self.chan.write_stderr(message.encode() + b"\r\n")
            self.chan.exit(255)

    def _readable(self) -> None:
        if self.finishing or self.hangup_task is not None:
            return
        try:
            chunks = self.process.read(0)
        except OSError as exc:
            log.warning("ssh %s: reading the process failed: %s", self.connection.id, exc)
            chunks = None
        if chunks is None:
            self.loop.remove_reader(self.process.fileno())
            self.finishing = True
            self._spawn(self._finish())
            return
        for stream, data in chunks:
            if self.channel_closed:
                continue
            if stream == engines.STDERR:
                self.chan.write_stderr(data)
            else:
                self.chan.write(data)

    async def _finish(self) -> None:
        """All output is out: report how the process ended, then release it."""
        process = self.process
        self.loop.remove_writer(process.fileno())
        try:
            code = await self.gateway.blocking(process.wait, 30)
        except (engines.EngineError, TimeoutError, OSError) as exc:
            log.warning("ssh %s: no exit code: %s", self.connection.id, exc)
            code = 255
        await self.gateway.blocking(process.close)
        if self.channel_closed:
            return
        name = _signal_name(code - 128) if self.signalled == code - 128 else None
        if name:
            self.chan.exit_with_signal(name)
        else:
            self.chan.exit(code)

    # --- input ---------------------------------------------------------------------------------

    def data_received(self, data: bytes, datatype) -> None:
        self.stdin += data
        if len(self.stdin) > STDIN_HIGH_WATER and not self.reading_paused:
            self.reading_paused = True
            self.chan.pause_reading()
        self._flush_stdin()

    def eof_received(self) -> bool:
        self.stdin_eof = True
        self._flush_stdin()
        return True  # keep the channel half-open: output may follow

    def _flush_stdin(self) -> None:
        """Give the process what it takes of the client's input, without blocking; at the end
        of the input (no TTY), end its stdin. Not re-entered: resuming the channel delivers
        held data at once, into data_received and back here."""
        process = self.process
        if process is None or self.flushing or self.resizing or self.finishing:
            return
        self.flushing = True
        try:
            while self.stdin:
                try:
                    taken = process.send(bytes(self.stdin[:STDIN_CHUNK]))
                except OSError:
                    self.stdin.clear()  # the process closed its input: the rest is dropped
                    break
                if not taken:
                    self.loop.add_writer(process.fileno(), self._flush_stdin)
                    return
                del self.stdin[:taken]
                if self.reading_paused and len(self.stdin) <= STDIN_LOW_WATER:
                    self.reading_paused = False
                    self.chan.resume_reading()
            self.loop.remove_writer(process.fileno())
            if self.reading_paused:
                self.reading_paused = False
                self.chan.resume_reading()
            if self.stdin_eof and not self.stdin and not process.tty:
                self.stdin_eof = False  # once
                process.close_stdin()
        finally:
            self.flushing = False

    def terminal_size_changed(self, width, height, pixwidth, pixheight) -> None:
        if self.process is not None:
            self.resizing += 1
            self._spawn(self._resize(height, width))

    async def _resize(self, rows: int, cols: int) -> None:
        """Input typed after a window change waits for it, as it would at a real terminal
        (`stty size` right after a resize shows the new size)."""
        try:
            await self.gateway.blocking(self.process.resize, rows, cols)
        except engines.EngineError as exc:
            log.info("ssh %s: resize failed: %s", self.connection.id, exc)
        finally:
            self.resizing -= 1
            self._flush_stdin()

    def signal_received(self, name: str) -> None:
        try:
            signum = signal.Signals[f"SIG{name}"]
        except KeyError:
            return  # not a signal this machine knows
        if self.process is not None and not self.finishing and self.hangup_task is None:
            self.signalled = int(signum)
            self._spawn(self._signal(signum))

    async def _signal(self, signum: int) -> None:
        try:
            await self.gateway.blocking(self.process.signal, signum)
        except engines.EngineError as exc:
            log.info("ssh %s: signal failed: %s", self.connection.id, exc)

    def break_received(self, msec: int) -> bool:
        return False

    # --- flow control and the end ---------------------------------------------------------

    def pause_writing(self) -> None:
        # The client reads slower than the process writes: stop reading the process.
        if self.process is not None and not self.output_paused:
            self.output_paused = True
            self.loop.remove_reader(self.process.fileno())

    def resume_writing(self) -> None:
        if self.output_paused and not self.finishing and self.hangup_task is None:
            self.output_paused = False
            self.loop.add_reader(self.process.fileno(), self._readable)

    def connection_lost(self, exc) -> None:
        self.channel_closed = True
        self.connection.sessions.discard(self)
        self.hangup()

    def hangup(self) -> None:
        """The client is gone: the process gets SIGHUP (then SIGKILL), as under sshd."""
        process = self.process
        if process is None or self.finishing or self.hangup_task is not None:
            return
        self.loop.remove_reader(process.fileno())
        self.loop.remove_writer(process.fileno())
        self.hangup_task = self._spawn(self.gateway.blocking(process.close))


def _signal_name(number: int) -> str | None:
    try:
        return signal.Signals(number).name.removeprefix("SIG")
    except ValueError:
        return None
