"""Prometheus metrics, correct across gunicorn workers (prometheus_client multiprocess mode).

`pycoderd server` points PROMETHEUS_MULTIPROC_DIR at a fresh folder before gunicorn forks, each
worker writes its samples there, and the master serves the sum on `prometheus.address`.
Metrics are created on first use, never at import time.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time

_metrics = None


class Metrics:
    def __init__(self):
        from prometheus_client import Counter, Gauge, Histogram

        self.requests = Counter(
            "coderd_api_requests_processed_total",
            "The total number of processed API requests",
            ["code", "method", "path"],
        )
        self.latency = Histogram(
            "coderd_api_request_latencies_seconds",
            "Latency distribution of requests in seconds",
            ["method", "path"],
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5, 10, 30),
        )
        self.concurrent = Gauge(
            "coderd_api_concurrent_requests",
            "The number of concurrent API requests",
            multiprocess_mode="livesum",
        )
        self.audit_writes = Counter(
            "pycoderd_audit_entries_total",
            "Audit entries written",
            ["action", "resource_type"],
        )
        self.csp_violations = Counter(
            "pycoderd_csp_violations_total",
            "Content-Security-Policy violations reported by browsers",
            ["directive"],
        )
        self.builds = Counter(
            "pycoderd_workspace_builds_total",
            "Workspace build jobs finished",
            ["kind", "status"],
        )


def metrics() -> Metrics | None:
    """The process's metrics, or None when Prometheus is off in this process."""
    return _metrics


def enable() -> Metrics:
    global _metrics
    if _metrics is None:
        _metrics = Metrics()
    return _metrics


def count_audit_write(action: str, resource_type: str) -> None:
    if _metrics is not None:
        _metrics.audit_writes.labels(action=action, resource_type=resource_type).inc()


# Directive names a browser may report; anything else is counted as "other" (bounded labels).
CSP_DIRECTIVES = frozenset(
    (
        "base-uri child-src connect-src default-src font-src form-action frame-ancestors "
        "frame-src img-src manifest-src media-src object-src prefetch-src script-src "
        "script-src-attr script-src-elem style-src style-src-attr style-src-elem "
        "worker-src require-trusted-types-for trusted-types upgrade-insecure-requests"
    ).split()
)


def count_csp_violation(directive: str) -> None:
    if _metrics is not None:
        label = directive if directive in CSP_DIRECTIVES else "other"
        _metrics.csp_violations.labels(directive=label).inc()


def count_build(kind: str, status: str) -> None:
    if _metrics is not None:
        _metrics.builds.labels(kind=kind, status=status).inc()


def init_app(app) -> None:
    """Count every request by route template (bounded label values) and status."""
    if not app.config["SETTINGS"]["prometheus.enable"]:
        return
    from flask import g, request  # this module stays importable by Flask-free services

    recorder = enable()

    @app.before_request
    def _start():
        g.prometheus_started = time.perf_counter()
        recorder.concurrent.inc()

    @app.teardown_request
    def _finish(exc):
        if "prometheus_started" not in g:
            return
        recorder.concurrent.dec()

    @app.after_request
    def _record(response):
        if "prometheus_started" in g:
            path = request.url_rule.rule if request.url_rule is not None else "UNKNOWN"
            recorder.requests.labels(
                code=str(response.status_code), method=request.method, path=path
            ).inc()
            recorder.latency.labels(method=request.method, path=path).observe(
                time.perf_counter() - g.prometheus_started
            )
        return response


def prepare_multiprocess_dir() -> str:
    """A fresh folder for the workers' samples; set before gunicorn forks."""
    path = tempfile.mkdtemp(prefix="pycoderd-prometheus-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    return path


def serve_aggregate(address: str) -> None:
    """Serve the sum over every worker on `address` (host:port), from the master process."""
    from prometheus_client import CollectorRegistry, multiprocess, start_http_server

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    host, _, port = address.rpartition(":")
    start_http_server(int(port), addr=host.strip("[]") or "127.0.0.1", registry=registry)


def worker_exited(pid: int) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid)


def cleanup(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)
