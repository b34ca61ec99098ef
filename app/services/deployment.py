"""The deployment as clients see it: its config (secrets blanked), SSH settings and stats."""

from __future__ import annotations

import datetime as dt
import threading

from peewee import JOIN, fn

from app import options
from app.models import ProvisionerJob, ProxyTrafficSample, Workspace
from app.models.base import utcnow
from app.option_types import Option
from app.services import snapshots

# Where a value came from, as Coder names it. Values handed to the app factory by the program
# that starts it (the test mapping) count as flags.
VALUE_SOURCES = {"default": "default", "yaml": "yaml", "env": "env", "flag": "flag"}
VALUE_SOURCES["override"] = "flag"

# Coder's DeploymentValues tags every top-level field `omitempty`: Go then drops false, 0, ""
# and empty arrays, but never structs (URLs, host:port values, Struct[T]) or nested groups.
_ALWAYS_SHOWN = ("url", "host:port", "struct")


def access_url(settings) -> str:
    """The URL users reach the deployment at (the HTTP address when none is configured)."""
    return settings["access_url"] or f"http://{settings['http_address'] or '127.0.0.1:3000'}"


def _value(option: Option, settings):
    """The option's value on the wire; secrets always blank."""
    return "" if option.secret else settings[option.key]


def config(settings) -> dict:
    """`{config, options}`: the DeploymentValues tree and the option list, secrets blanked."""
    tree: dict = {}
    for option in options.all_options():
        value = _value(option, settings)
        *parents, leaf = option.key.split(".")
        if not parents and option.type not in _ALWAYS_SHOWN and value in (False, 0, "", []):
            continue
        node = tree
        for name in parents:
            node = node.setdefault(name, {})
        node[leaf] = value
    by_name = {option.name: option for option in options.all_options()}
    return {
        "config": tree,
        "options": [_option(option, settings, by_name) for option in options.all_options()],
    }


def _option(option: Option, settings, by_name: dict) -> dict:
    """One option as clibase.Option marshals it (empty fields omitted)."""
    annotations = dict(option.annotations)
    if option.secret:
        annotations["secret"] = "true"
    document = {
        "name": option.name,
        "description": option.description,
        "flag": option.flag,
        "flag_shorthand": option.flag_shorthand,
        "env": option.env,
        "yaml": option.yaml,
        "default": "" if option.secret else option.default,
    }
    document = {key: value for key, value in document.items() if value}
    document["value"] = _value(option, settings)
    if annotations:
        document["annotations"] = annotations
    groups = options.group_path(option)
    if groups:
        document["group"] = _group(groups)
    instead = [by_name[name] for name in option.use_instead if name in by_name]
    if instead:
        document["use_instead"] = [_option(other, settings, by_name) for other in instead]
    if option.hidden:
        document["hidden"] = True
    document["value_source"] = VALUE_SOURCES[settings.source(option.key)]
    return document


def _group(path: list) -> dict:
    """A group with its parents nested (`parent`), innermost first."""
    group = path[-1]
    document = {"name": group.name, "yaml": group.yaml, "description": group.description}
    document = {key: value for key, value in document.items() if value}
    if len(path) > 1:
        document["parent"] = _group(path[:-1])
    return document


def ssh_config(settings) -> dict:
    return {
        "hostname_prefix": settings["config_ssh.DeploymentName"],
        "ssh_config_options": dict(
            options.split_ssh_option(entry)
            for entry in settings["config_ssh.SSHConfigOptions"] or ()
        ),
    }


# --- stats -------------------------------------------------------------------------------------

STATS_WINDOW = dt.timedelta(minutes=15)

# A workspace with a queued job is pending and one with a running job is building; otherwise its
# container's status decides.
_JOB_STATES = {"pending": "pending", "running": "building"}
_CONTAINER_STATES = {"CREATING": "building", "ON": "running", "OFF": "stopped", "FAILED": "failed"}


def _workspace_counts() -> dict:
    counts = dict.fromkeys(("pending", "building", "running", "failed", "stopped"), 0)
    active = (
        ProvisionerJob.select(
            ProvisionerJob.workspace.alias("workspace_id"),
            fn.MAX(ProvisionerJob.status).alias("job_status"),  # "running" > "pending"
        )
        .where(ProvisionerJob.status.in_(tuple(_JOB_STATES)))
        .group_by(ProvisionerJob.workspace)
        .alias("active")
    )
    rows = (
        Workspace.select(
            Workspace.container_status, active.c.job_status, fn.COUNT(Workspace.id).alias("n")
        )
        .join(active, JOIN.LEFT_OUTER, on=(active.c.workspace_id == Workspace.id))
        .group_by(Workspace.container_status, active.c.job_status)
        .tuples()
    )
    for container_status, job_status, n in rows:
        state = _JOB_STATES.get(job_status) or _CONTAINER_STATES.get(container_status)
        if state:
            counts[state] += n
    return counts


def _percentile(window, count: int, fraction: float) -> float:
    """percentile_cont over latency_ms in the window, in SQL on either database."""
    position = (count - 1) * fraction
    lower = int(position)
    values = [
        row[0]
        for row in window.select(ProxyTrafficSample.latency_ms)
        .order_by(ProxyTrafficSample.latency_ms)
        .limit(2)
        .offset(lower)
        .tuples()
    ]
    if len(values) == 1 or position == lower:
        return float(values[0])
    # Rounded to microseconds: interpolation noise (95.49999…) is not information.
    return round(values[0] + (values[1] - values[0]) * (position - lower), 3)


def _traffic(since: dt.datetime) -> dict:
    window = ProxyTrafficSample.select().where(ProxyTrafficSample.time >= since)
    count, rx, tx = (
        window.select(
            fn.COUNT(ProxyTrafficSample.id),
            fn.COALESCE(fn.SUM(ProxyTrafficSample.rx_bytes), 0),
            fn.COALESCE(fn.SUM(ProxyTrafficSample.tx_bytes), 0),
        )
        .tuples()
        .get()
    )
    latency = {"P50": -1.0, "P95": -1.0}
    if count:
        latency = {"P50": _percentile(window, count, 0.5), "P95": _percentile(window, count, 0.95)}
    return {"rx_bytes": int(rx), "tx_bytes": int(tx), "connection_latency_ms": latency}


def stats(interval_ns: int, now: dt.datetime | None = None) -> dict:
    """Workspace counts now, and proxy traffic over the last 15 minutes."""
    collected_at = now or utcnow()
    since = collected_at - STATS_WINDOW
    return {
        "aggregated_from": since,
        "collected_at": collected_at,
        "next_update_at": collected_at + dt.timedelta(microseconds=interval_ns // 1000),
        "session_count": {"vscode": 0, "ssh": 0, "jetbrains": 0, "reconnecting_pty": 0},
        "workspaces": {**_workspace_counts(), **_traffic(since)},
    }


# The stats are computed once per agent_stat_refresh_interval for the whole deployment, by the
# server's background process; a worker computes them only when no fresh ones are stored.
STATS_SNAPSHOT = "deployment_stats"
OVERDUE_GRACE = dt.timedelta(seconds=1)
_TIMES = ("aggregated_from", "collected_at", "next_update_at")


def stats_kind(interval_ns: int) -> snapshots.Kind:
    interval_ns = max(interval_ns, 1_000_000)
    interval = dt.timedelta(microseconds=interval_ns // 1000)

    def compute(now: dt.datetime) -> dict:
        document = stats(interval_ns, now)
        return {**document, **{key: document[key].isoformat() for key in _TIMES}}

    return snapshots.Kind(STATS_SNAPSHOT, compute, interval=interval, retry=interval)


def latest_stats(interval_ns: int) -> dict:
    """The deployment's stats as last computed (now, when none are stored or they are overdue)."""
    document = snapshots.current(stats_kind(interval_ns), OVERDUE_GRACE).data
    return {**document, **{key: dt.datetime.fromisoformat(document[key]) for key in _TIMES}}


def start_stats_thread(app, stop: threading.Event) -> threading.Thread:
    """Keep the stored stats fresh (a loop of the server's background process)."""
    interval_ns = app.config["SETTINGS"]["agent_stat_refresh_interval"]
    return snapshots.start_thread(stats_kind(interval_ns), stop)
