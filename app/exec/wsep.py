"""wsep: one command in a workspace over one WebSocket (the protocol of github.com/cdr/wsep, which
the classic `coder` CLI speaks on `GET /proxy/workspaces/{id}/wsep`).

Every message is a binary frame of at most 64,000 bytes: a compact JSON header, optionally
followed by `\\n` and raw bytes. The client sends `start` first (`{"type":"start","command":
{"command","args","stdin","tty","uid","gid","env","working_dir"}}`), then any of `stdin` (+ bytes),
`close_stdin` and `resize` (`rows`, `cols`). The server answers `{"type":"pid","pid":N}` once
the process runs, then `stdout`/`stderr` (+ bytes) as output comes (one `stdout` stream with a
TTY), and last `{"type":"exit_code","exit_code":N}`, followed by a normal close (1000).

How the session ends: the command exits (exit code, then close 1000); the client closes or goes
away (the command is ended: SIGHUP, then SIGKILL, see ExecProcess.close); no data either way for
`CODER_WEBSOCKET_IDLE_TIMEOUT` (close 1000 "idle", command ended); the worker stops (1001).
A command that cannot start closes with 1011 and the engine's reason; a message out of protocol
(not JSON, no `start` first, a second `start`) with 1008.

Everything runs in the worker thread that accepted the WebSocket, driven by one selector over
the client's socket and the process's stream (never a blocking write: see app.provisioner.engine).
"""

from __future__ import annotations

import json
import logging
import selectors
import time
from collections.abc import Callable

from app import websocket_server
from app.provisioner.engine import STDERR, EngineError, ExecProcess, ExecSpec
from app.services import activity, workspace_exec

log = logging.getLogger("pycoderd.exec")

MAX_MESSAGE = 64_000  # the protocol's message size, both ways
START_TIMEOUT = 30.0  # seconds for the client's start message
BUFFER = 256 * 1024  # per direction: stop reading a side while this much waits for the other
READ, WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE


class ProtocolViolation(Exception):
    """The client broke the protocol: the session closes with 1008."""


def _header(value: dict) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


_OUTPUT_HEADERS = {1: _header({"type": "stdout"}) + b"\n", 2: _header({"type": "stderr"}) + b"\n"}


def parse(message: bytes) -> tuple[dict, bytes]:
    """(the JSON header, the body) of one client message."""
    head, _, body = message.partition(b"\n")
    try:
        header = json.loads(head)
    except ValueError:
        raise ProtocolViolation("a message header is not JSON") from None
    if not isinstance(header, dict) or not isinstance(header.get("type"), str):
        raise ProtocolViolation('a message header has no "type"')
    return header, body


def spec_from(header: dict) -> ExecSpec:
    """The ExecSpec of a start message's command."""
    command = header.get("command")
    if not isinstance(command, dict):
        raise ProtocolViolation('the start message has no "command"')
    program = command.get("command")
    args = command.get("args") or []
    env = command.get("env") or []
    if not isinstance(program, str) or not program:
        raise ProtocolViolation("the start message names no command")
    if not (isinstance(args, list) and all(isinstance(a, str) for a in args)):
        raise ProtocolViolation('"args" must be a list of strings')
    if not (isinstance(env, list) and all(isinstance(e, str) for e in env)):
        raise ProtocolViolation('"env" must be a list of "NAME=value" strings')
    uid, gid = command.get("uid") or 0, command.get("gid") or 0
    if not all(isinstance(n, int) and 0 <= n < 2**32 for n in (uid, gid)):
        raise ProtocolViolation('"uid" and "gid" must be unsigned 32-bit integers')
    working_dir = command.get("working_dir") or ""
    if not isinstance(working_dir, str):
        raise ProtocolViolation('"working_dir" must be a string')
    return ExecSpec(
        argv=(program, *args),
        # As wsep does: the pairs come on top of the environment; later ones win.
        env=dict(entry.split("=", 1) for entry in env if "=" in entry),
        working_dir=working_dir,
        # wsep changes user or group only when one is non-zero (0 means "as is").
        user=f"{uid}:{gid}" if uid or gid else "",
        tty=bool(command.get("tty")),
        stdin=bool(command.get("stdin")),
    )


def output_messages(stream: int, data: bytes) -> list[bytes]:
    """`stdout`/`stderr` messages carrying `data`, each within MAX_MESSAGE."""
    header = _OUTPUT_HEADERS[STDERR if stream == STDERR else 1]
    room = MAX_MESSAGE - len(header)
    return [header + data[i : i + room] for i in range(0, len(data), room)]


class Session:
    """One wsep WebSocket: `handler(connection)` for app.websocket_server."""

    def __init__(self, target: workspace_exec.ExecTarget, open_engine: Callable, idle: float):
        self.target = target
        self.open_engine = open_engine  # () -> Engine
        self.idle = idle  # seconds, 0 = never
        self.stdin = bytearray()
        self.stdin_allowed = False
        self.close_stdin = False  # asked for; done once `stdin` is written
        self.last_data = time.monotonic()

    def __call__(self, conn: websocket_server.Connection) -> None:
        engine = process = used = None
        try:
            first, *rest = self._first_messages(conn)
            if first is None:
                return
            header, _ = parse(first)
            if header["type"] != "start":
                raise ProtocolViolation("the first message must be start")
            spec = spec_from(header)
            try:
                engine = self.open_engine()
                process = engine.exec(self.target.container_id, spec)
            except EngineError as exc:
                conn.close(1011, str(exc))
                return
            self.stdin_allowed = spec.stdin
            used = activity.Session(self.target.workspace_id, self.target.user_id, "wsep")
            self._quietly(used.beat)
            conn.send_binary(_header({"type": "pid", "pid": process.pid}))
            for message in rest:
                self._handle(message, process)
            self._relay(conn, process, used)
        except ProtocolViolation as exc:
            conn.close(1008, str(exc))
        finally:
            if used is not None:
                self._quietly(used.close)
            if process is not None:
                process.close()
            if engine is not None:
                engine.close()

    def _first_messages(self, conn) -> list[bytes | None]:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and not websocket_server.stopping():
            conn.flush()
            if conn.wait_readable(min(1.0, deadline - time.monotonic())):
                messages = conn.receive()
                if messages:
                    return messages
                if conn.closed:
                    return [None]
        conn.close(1008, "no start message")
        return [None]

    def _handle(self, message: bytes, process: ExecProcess) -> None:
        header, body = parse(message)
        kind = header["type"]
        if kind == "stdin":
            if self.stdin_allowed and not self.close_stdin:
                self.stdin += body
        elif kind == "close_stdin":
            self.close_stdin = True
        elif kind == "resize":
            rows, cols = header.get("rows"), header.get("cols")
            if all(isinstance(n, int) and 0 < n < 2**16 for n in (rows, cols)):
                try:
                    process.resize(rows, cols)
                except EngineError as exc:
                    log.debug("resize failed: %s", exc)
        elif kind == "start":
            raise ProtocolViolation("one command per connection")
        # Other types are ignored, as wsep does.

    def _relay(self, conn: websocket_server.Connection, process: ExecProcess, used) -> None:
        selector = selectors.DefaultSelector()
        output_done = False
        stdin_closed = False
        pause = 0.01  # between exit-status polls once the output has ended
        try:
            while True:
                now = time.monotonic()
                if websocket_server.stopping():
                    conn.close(1001, "the server is stopping")
                    return
                if self.idle and now - self.last_data >= self.idle:
                    conn.close(1000, "idle")
                    return
                if used.beat_due:
                    self._quietly(used.beat)
                if self.close_stdin and not self.stdin and not stdin_closed:
                    process.close_stdin()
                    stdin_closed = True
                if output_done:
                    code = process.poll()
                    if code is not None:
                        conn.send_binary(_header({"type": "exit_code", "exit_code": code}))
                        conn.close(1000)
                        return
                events = READ if len(self.stdin) < BUFFER else 0
                _watch(selector, conn, events | (WRITE if conn.wants_write else 0))
                events = 0 if output_done or len(conn.outgoing) >= BUFFER else READ
                _watch(selector, process, events | (WRITE if self.stdin else 0))
                timeout = pause if output_done else 1.0
                if output_done:
                    pause = min(pause * 2, 0.5)
                for key, mask in selector.select(timeout):
                    if key.fileobj is conn:
                        if mask & WRITE:
                            conn.flush()
                        if mask & READ:
                            for message in conn.receive():
                                self.last_data = now
                                self._handle(message, process)
                            if conn.closed:
                                return  # the client left: the command ends (finally, above)
                    else:
                        if mask & WRITE and self.stdin:
                            self._feed(process)
                        if mask & READ:
                            chunks = process.read(0)
                            if chunks is None:
                                output_done = True
                                continue
                            for stream, data in chunks:
                                self.last_data = now
                                for part in output_messages(stream, data):
                                    conn.send_binary(part)
                            conn.flush()
        finally:
            selector.close()

    @staticmethod
    def _quietly(function, *args) -> None:
        """Bookkeeping that must not end the command when the database is briefly away."""
        try:
            function(*args)
        except Exception:
            log.exception("wsep: %s failed", function.__name__)

    def _feed(self, process: ExecProcess) -> None:
        try:
            sent = process.send(bytes(self.stdin[:65536]))
        except OSError:
            sent = len(self.stdin)  # the process's stdin is gone: drop what was for it
        del self.stdin[:sent]


def _watch(selector, fileobj, events: int) -> None:
    key = selector.get_map().get(fileobj.fileno())
    if not events:
        if key is not None:
            selector.unregister(fileobj)
    elif key is None:
        selector.register(fileobj, events)
    elif key.events != events:
        selector.modify(fileobj, events)
