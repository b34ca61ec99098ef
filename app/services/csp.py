"""Content-Security-Policy violation reports: a warning line and a counter."""

from __future__ import annotations

import json
import logging

from app import prometheus

log = logging.getLogger("pycoderd.csp")

MAX_LOGGED_CHARS = 2000


def record(report: dict) -> None:
    directive = report.get("effective-directive") or report.get("violated-directive") or ""
    text = json.dumps(report, sort_keys=True, default=str)[:MAX_LOGGED_CHARS]
    log.warning("CSP violation: %s", text)
    prometheus.count_csp_violation(str(directive).split(" ")[0])
