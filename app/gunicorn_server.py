"""Serve the app with gunicorn from `pycoderd server` (each worker builds its own app)."""

from __future__ import annotations

import json
import logging
import os
import uuid
from http import HTTPStatus

from gunicorn import util
from gunicorn.app.base import BaseApplication
from gunicorn.workers.gthread import ThreadWorker

from app import buildinfo, errors, logs, prometheus
from app.devurls import websocket
from app.provisioner import background
from app.ssh import runner as ssh_runner


class PycoderdServer(BaseApplication):
    def __init__(self, flags: dict, gunicorn_options: dict):
        self.flags = flags
        self.gunicorn_options = gunicorn_options
        super().__init__()

    def load_config(self):
        for key, value in self.gunicorn_options.items():
            self.cfg.set(key, value)

    def load(self):
        from app import create_app

        return create_app({"OPTION_FLAGS": self.flags})


# What gunicorn refuses before the app sees the request, said as pycoderd says it.
_GUNICORN_MESSAGES = {
    400: "Bad request: it is not HTTP that pycoderd can read.",
    414: "The request line is too long.",
    431: "The request's headers are too large, or too many.",
}


class Worker(ThreadWorker):
    """gunicorn's gthread worker, answering the requests gunicorn itself refuses (oversized
    headers, long request lines, bad framing) in JSON, not gunicorn's HTML page.

    gunicorn still decides the status, logs the refusal and writes the access line; only the
    answer it writes is replaced. The envelope is the path's API version when the request line
    was read, else v2's `{"message": ...}` (like every coderd answer)."""

    def handle_error(self, req, client, addr, exc):
        written = _Written()
        super().handle_error(req, written, addr, exc)
        status = written.status()
        if status is None:  # nothing was written: nothing to replace
            return
        req = req or getattr(exc, "req", None)  # a bad header's request line was read
        path = getattr(req, "path", None) or "/api/v2"
        try:
            util.write_nonblock(client, error_response(status, path, exc))
        except Exception:
            self.log.debug("Failed to send error message.")


class _Written:
    """Stands in for the client's socket while gunicorn writes its error page."""

    def __init__(self):
        self.data = b""

    def gettimeout(self):
        return 0.0  # so gunicorn writes with sendall, without touching blocking mode

    def sendall(self, data):
        self.data += data

    def status(self) -> int | None:
        parts = self.data.split(b"\r\n", 1)[0].split(b" ")
        return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


def error_response(status: int, path: str, exc: Exception) -> bytes:
    """A complete HTTP/1.1 response (the connection closes after it) for a refused request."""
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    if status >= 500:
        error = errors.APIError()  # gunicorn logged it; the client learns nothing more
    else:
        message = _GUNICORN_MESSAGES.get(status, f"{phrase}.")
        error = errors.APIError(message, detail=str(exc))
        error.code = phrase.lower().replace(" ", "_")
    error.status = status
    body = json.dumps(errors.envelope(error, path)).encode() + b"\n"
    head = (
        f"HTTP/1.1 {status} {phrase}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        f"X-Coder-Build-Version: {buildinfo.version()}\r\n"
        f"X-Coder-Request-Id: {uuid.uuid4()}\r\n"
        "\r\n"
    )
    return head.encode("latin-1") + body


def gunicorn_options(settings) -> dict:
    return {
        # gunicorn's own lines in pycoderd's formats and destinations (app/logs.py).
        "logger_class": logs.GunicornLogger,
        # No ~/.gunicorn/gunicorn.ctl: one per user, shared by every server on the machine,
        # and nothing in pycoderd uses it.
        "control_socket_disable": True,
        "bind": settings["http_address"],
        "workers": max(1, settings["pycoderd.workers"]),
        "worker_class": Worker,  # gthread, answering in JSON what gunicorn refuses
        # 8 for requests, plus one per WebSocket a worker may hold (dev URL relays, and its own:
        # wsep, watch-update).
        "threads": 8
        + max(0, settings["pycoderd.devurl_websocket_limit"])
        + max(0, settings["pycoderd.websocket_limit"]),
        "timeout": 120,
        "graceful_timeout": 10,
        "accesslog": None,
        # The app's TrustedProxyFix alone decides which forwarded headers to trust.
        "forwarded_allow_ips": "",
        "secure_scheme_headers": {},
        "proc_name": "pycoderd",
        # WebSockets hold worker threads: they end when the worker stops (both kinds watch it).
        "post_worker_init": websocket.watch_worker,
    }


def serve(flags: dict, settings, version: str = "", ssh_socket=None) -> None:
    """Serve with gunicorn, plus ONE background process for the provisioner and other loops,
    and ONE SSH gateway process when `ssh_socket` (CODER_SSH_ADDRESS) is given."""
    config = gunicorn_options(settings)
    exits = []
    ready = []
    address = settings["http_address"]
    if settings["prometheus.enable"]:
        metrics_address = settings["prometheus.address"]
        ready.append(lambda: prometheus.serve_aggregate(metrics_address))
        config["child_exit"] = lambda arbiter, worker: prometheus.worker_exited(worker.pid)
        samples = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
        if samples:
            exits.append(lambda: prometheus.cleanup(samples))
    server_pid = os.getpid()
    background_process = background.start_process(flags)
    helpers = [background_process]
    if ssh_socket is not None:
        helpers.append(ssh_runner.start_process(flags, ssh_socket))
        ssh_socket.close()  # the gateway's process has its own copy; workers get none

    def stop_background():
        # Forked workers leave through here too: only the server itself stops the processes.
        if os.getpid() == server_pid:
            for process in helpers:  # both stop at once, then each is waited for
                if process.poll() is None:
                    process.terminate()
            for process in helpers:
                background.stop_process(process)

    exits.insert(0, stop_background)

    def on_exit(arbiter):
        for step in exits:
            step()

    config["on_exit"] = on_exit

    def when_ready(arbiter):
        # Only now: the address is bound (a taken port ends gunicorn before this).
        for step in ready:
            step()
        log = logging.getLogger("pycoderd.server")
        log.info("pycoderd %s listening on http://%s", version, address)
        if settings["swagger.enable"]:
            log.info("Swagger UI: http://%s/swagger", address)

    config["when_ready"] = when_ready
    try:
        PycoderdServer(flags, config).run()
    finally:
        stop_background()
