"""Logging: human lines and JSON lines, each carrying the request id (SPEC §12).

Every line the server writes goes through here, in the chosen format(s): pycoderd's own
(`pycoderd.*`), one access line per request (`AccessLog`, at info), gunicorn's
(`GunicornLogger` sends them to `pycoderd.gunicorn`) and other libraries' warnings (the root
logger). A line outside a request carries no request id at all, rather than an empty one.
"""

from __future__ import annotations

import json
import logging
import random
import re
import sys
import time
from urllib.parse import parse_qsl, urlencode

from flask import g, has_request_context
from gunicorn import glogging

LOGGER = "pycoderd"
ACCESS_LOGGER = "pycoderd.access"
USER_KEY = "pycoderd.user"  # WSGI environ: who made the request, once known
REQUEST_ID_KEY = "pycoderd.request_id"
# Query parameters whose values never reach a log line: pycoderd's own credentials, and
# anything named like one (a workspace app's `?token=` as much as pycoderd's).
SECRET_PARAMETER = re.compile(r"token|ticket|secret|passw|key|auth|session|code|sig", re.I)
REDACTED = "REDACTED"


# A version-4 UUID's fixed bits: the version nibble (4) and the variant's two top bits (10).
_UUID4_CLEAR = ~((0xF << 76) | (0xC000 << 48))
_UUID4_SET = (4 << 76) | (0x8000 << 48)


def new_request_id() -> str:
    """A random (version 4) UUID naming a request, in its usual text form. It is no secret,
    so Python's own generator draws it (re-seeded in every forked worker); `uuid.uuid4()`
    asks the kernel on every request, which costs more than the rest of its line of work."""
    h = f"{random.getrandbits(128) & _UUID4_CLEAR | _UUID4_SET:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class RequestIdFilter(logging.Filter):
    def filter(self, record):
        if not getattr(record, "request_id", ""):
            record.request_id = g.get("request_id", "") if has_request_context() else ""
        return True


class HumanFormatter(logging.Formatter):
    """`<time> [INFO] logger: message request_id=…` (the id only when there is one)."""

    converter = time.gmtime

    def __init__(self):
        super().__init__(
            "%(asctime)s.%(msecs)03dZ [%(levelname).4s] %(name)s: %(message)s",
            "%Y-%m-%dT%H:%M:%S",
        )

    def formatMessage(self, record):
        line = super().formatMessage(record)
        request_id = getattr(record, "request_id", "")
        return f"{line} request_id={request_id}" if request_id else line


class JSONFormatter(logging.Formatter):
    converter = time.gmtime

    def format(self, record):
        entry = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(getattr(record, "fields", None) or {})  # structured, JSON only
        if getattr(record, "request_id", ""):
            entry["request_id"] = record.request_id
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def _stream(target: str):
    if target in ("/dev/stderr", "stderr"):
        return logging.StreamHandler(sys.stderr)
    if target in ("/dev/stdout", "stdout"):
        return logging.StreamHandler(sys.stdout)
    return logging.FileHandler(target, encoding="utf-8")


def handlers(settings) -> list[logging.Handler]:
    """One handler per configured destination (logging.human, logging.json), in its format."""
    made = []
    for target, formatter in (
        (settings["logging.human"], HumanFormatter),
        (settings["logging.json"], JSONFormatter),
    ):
        if target:
            handler = _stream(target)
            handler.setFormatter(formatter())
            handler.addFilter(RequestIdFilter())
            handler._pycoderd = True
            made.append(handler)
    return made


def configure(settings) -> None:
    """(Re)configure the `pycoderd` logger from logging.human / logging.json / verbose; other
    libraries' warnings (the root logger) go to the same places in the same formats."""
    logger = logging.getLogger(LOGGER)
    root = logging.getLogger()
    for owner in (logger, root):
        for handler in list(owner.handlers):
            if owner is logger or getattr(handler, "_pycoderd", False):
                owner.removeHandler(handler)
                handler.close()
    logger.setLevel(logging.DEBUG if settings["verbose"] else logging.INFO)
    logger.propagate = False
    for handler in handlers(settings):
        logger.addHandler(handler)
    for handler in handlers(settings):
        handler.setLevel(logging.WARNING)
        root.addHandler(handler)
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())


class GunicornLogger(glogging.Logger):
    """gunicorn's own lines (starting, workers, errors) as `pycoderd.gunicorn`, so they come out
    where and how pycoderd's do (`logs.configure` ran in the server process first)."""

    def setup(self, cfg):
        super().setup(cfg)
        self.error_log = logging.getLogger(f"{LOGGER}.gunicorn")


def loggable_path(environ) -> str:
    """The request's path and query, the values of credential-like parameters replaced."""
    path = environ.get("PATH_INFO", "") or "/"
    query = environ.get("QUERY_STRING", "")
    if not query:
        return path
    pairs = parse_qsl(query, keep_blank_values=True)
    cleaned = [(k, REDACTED if SECRET_PARAMETER.search(k) else v) for k, v in pairs]
    return f"{path}?{urlencode(cleaned, safe='/:,*')}"


class AccessLog:
    """WSGI middleware: one info line per request, when its status is known — method, path
    (without credentials), status, time to the response's start, and the user once known
    (`environ[USER_KEY]`, set by the API and the dev URL proxy)."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app
        self.log = logging.getLogger(ACCESS_LOGGER)

    def __call__(self, environ, start_response):
        if not self._written():
            return self.wsgi_app(environ, start_response)
        started = time.perf_counter()
        logged = []

        def logging_start_response(status, headers, exc_info=None):
            if not logged:
                logged.append(True)
                self._line(environ, status.split(" ", 1)[0], started)
            return start_response(status, headers, exc_info)

        result = self.wsgi_app(environ, logging_start_response)
        if not logged:  # a WebSocket relay answered on the socket itself, and has ended
            self._line(environ, environ.get("pycoderd.status", "-"), started)
        return result

    def _written(self) -> bool:
        """Whether an info line would reach a handler that writes it (logging's own walk up the
        loggers, as `Logger.callHandlers` makes it): with no destination configured, only
        NullHandlers are met, and the request pays nothing for its line."""
        logger = self.log
        if not logger.isEnabledFor(logging.INFO):
            return False
        while logger is not None:
            for handler in logger.handlers:
                if handler.level <= logging.INFO and not isinstance(handler, logging.NullHandler):
                    return True
            if not logger.propagate:
                return False
            logger = logger.parent
        return False

    def _line(self, environ, status: str, started: float) -> None:
        milliseconds = (time.perf_counter() - started) * 1000
        method = environ.get("REQUEST_METHOD", "")
        path = loggable_path(environ)
        user = environ.get(USER_KEY, "")
        self.log.info(
            "%s %s %s %.1fms%s",
            method,
            path,
            status,
            milliseconds,
            f" user={user}" if user else "",
            extra={
                "fields": {
                    "method": method,
                    "path": path,
                    "status": int(status) if status.isdigit() else status,
                    "duration_ms": round(milliseconds, 1),
                    "user": user,
                },
                "request_id": environ.get(REQUEST_ID_KEY, ""),
            },
        )
