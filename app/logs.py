"""Logging: human lines and JSON lines, each carrying the request id (SPEC §12)."""

from __future__ import annotations

import json
import logging
import sys
import time

from flask import g, has_request_context

LOGGER = "pycoderd"


class RequestIdFilter(logging.Filter):
    def filter(self, record):
        record.request_id = ""
        if has_request_context():
            record.request_id = g.get("request_id", "")
        return True


class JSONFormatter(logging.Formatter):
    converter = time.gmtime

    def format(self, record):
        entry = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": getattr(record, "request_id", ""),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def _stream(target: str):
    if target in ("/dev/stderr", "stderr"):
        return logging.StreamHandler(sys.stderr)
    if target in ("/dev/stdout", "stdout"):
        return logging.StreamHandler(sys.stdout)
    return logging.FileHandler(target, encoding="utf-8")


def configure(settings) -> None:
    """(Re)configure the `pycoderd` logger from logging.human / logging.json / verbose."""
    logger = logging.getLogger(LOGGER)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logger.setLevel(logging.DEBUG if settings["verbose"] else logging.INFO)
    logger.propagate = False
    human = logging.Formatter(
        "%(asctime)s.%(msecs)03dZ [%(levelname).4s] %(name)s: %(message)s"
        " request_id=%(request_id)s",
        "%Y-%m-%dT%H:%M:%S",
    )
    human.converter = time.gmtime
    for target, formatter in ((settings["logging.human"], human), (settings["logging.json"], None)):
        if not target:
            continue
        handler = _stream(target)
        handler.setFormatter(formatter or JSONFormatter())
        handler.addFilter(RequestIdFilter())
        logger.addHandler(handler)
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
