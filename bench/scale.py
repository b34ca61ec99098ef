"""Audit log and usage metrics at scale: query cost at 10^4 and 10^6 rows, NDJSON export memory.

    .venv/bin/python -m bench.scale [--sizes 10000,1000000] [--backends sqlite,postgres]
                                    [--repeat 15] [--no-write]

For each database, bulk-loads audit entries and activity rows up to each size (SQLite:
executemany in one transaction; PostgreSQL: COPY), then times, in-process through the Flask test
client (the whole request path: auth, arguments, SQL, JSON), the seed's filtered audit pages, a
one-year weekly active-users query, and exports every entry as NDJSON in a child process that
reports its peak RSS growth. PostgreSQL runs in a scratch database on 127.0.0.1:5432 (or
PYCODERD_BENCH_PG_URL's server), dropped at the end.

Activity is seeded at a constant 25 active users per day, the larger table being a longer
history: the metrics query's cost follows the rows inside [start, end), not the table's size,
and a last query (`1 year` buckets over the whole history) shows the cost of reading everything.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench import report

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("PYCODERD_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
NOW = dt.datetime(2026, 12, 1)
AUDIT_SPAN = dt.timedelta(days=730)  # entries spread over two years before NOW
USERS_PER_DAY = 25
RESOURCE_TYPES = (
    ("environment", 40),
    ("user", 20),
    ("image", 15),
    ("api_key", 15),
    ("devurl", 10),
)
ACTIONS = (("create", 30), ("write", 40), ("delete", 10), ("stop", 10), ("login", 10))
BATCH = 20_000


def _weighted(pairs) -> list[str]:
    return [name for name, weight in pairs for _ in range(weight)]


# --- seeding --------------------------------------------------------------------------------


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


def audit_rows(count: int, rng: random.Random, users: list[str], resources: list[str]):
    """`count` realistic entries at random times in the two years before NOW."""
    types, actions = _weighted(RESOURCE_TYPES), _weighted(ACTIONS)
    span = int(AUDIT_SPAN.total_seconds())
    newest = int((NOW - dt.datetime(1970, 1, 1)).total_seconds())
    diff = json.dumps({"name": {"old": "before", "new": "after"}})
    organization = "00000000-0000-4000-8000-000000000000"
    for _ in range(count):
        user = rng.choice(users)
        resource = rng.choice(resources)
        second = newest - rng.randrange(span)
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(second))
        yield (
            _uuid(rng),
            f"{when}.{rng.randrange(1_000_000):06d}",
            organization,
            user,
            "someone",
            "203.0.113.7",
            "curl/8.5.0",
            rng.choice(actions),
            rng.choice(types),
            resource,
            "a-target",
            diff,
            200,
            _uuid(rng),
        )


AUDIT_COLUMNS = (
    "id",
    "time",
    "organization_id",
    "user_id",
    "username",
    "ip",
    "user_agent",
    "action",
    "resource_type",
    "resource_id",
    "resource_target",
    "diff",
    "status_code",
    "request_id",
)


def activity_rows(first: int, count: int, users: list[str]):
    """Rows `first`..`first+count` of a history going back from NOW, 25 users a day."""
    for n in range(first, first + count):
        day = (NOW - dt.timedelta(days=1 + n // USERS_PER_DAY)).date()
        yield (day.isoformat(), users[n % USERS_PER_DAY + (n // USERS_PER_DAY) % 7])


def bulk_insert(database, table: str, columns, rows) -> None:
    """Insert an iterator of tuples in batches: COPY on PostgreSQL, executemany on SQLite."""
    from app import db

    names = ", ".join(columns)
    batch = []

    def flush():
        if not batch:
            return
        if db.is_postgres():
            buffer = io.StringIO()
            for row in batch:
                buffer.write("\t".join(_copy_value(v) for v in row) + "\n")
            buffer.seek(0)
            with database.connection().cursor() as cursor:
                cursor.copy_expert(f"COPY {table} ({names}) FROM STDIN", buffer)
        else:
            marks = ", ".join("?" for _ in columns)
            database.connection().executemany(
                f"INSERT INTO {table} ({names}) VALUES ({marks})", batch
            )
        batch.clear()

    with database.atomic():
        for row in rows:
            batch.append(row)
            if len(batch) == BATCH:
                flush()
        flush()


def _copy_value(value) -> str:
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


# --- measuring ------------------------------------------------------------------------------


def timed(call, repeat: int) -> float:
    """Median wall time in milliseconds of `call()` (after one warm-up call)."""
    call()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def get_json(client, headers, url):
    def call():
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
        return response.json

    return call


def audit_queries(sample_resource: str) -> list[tuple[str, str]]:
    start = int((NOW - dt.timedelta(days=7) - dt.datetime(1970, 1, 1)).total_seconds())
    end = start + 7 * 86400
    return [
        (
            "audit: seed filter (resource_type + action + 7-day range), limit 50",
            f"/api/v0/audit?range_start={start}&range_end={end}&resource_type=environment"
            "&action=create&limit=50",
        ),
        (
            "audit: seed filter (resource_id + resource_type), limit 10",
            f"/api/v0/audit?limit=10&resource_id={sample_resource}&resource_type=environment",
        ),
        ("audit: newest page, no filter, limit 50", "/api/v0/audit"),
        ("audit: user_id filter, limit 50", "/api/v0/audit?user_id=USER"),
    ]


def metrics_queries(history_days: int) -> list[tuple[str, str]]:
    year_start = (NOW - dt.timedelta(days=365)).strftime("%Y-%m-%dT00:00:00Z")
    end = NOW.strftime("%Y-%m-%dT00:00:00Z")
    first = (NOW - dt.timedelta(days=history_days + 1)).strftime("%Y-%m-%dT00:00:00Z")
    url = "/api/v0/metrics/usage/active-users"
    return [
        (
            "metrics: 1 week buckets over the last year",
            f"{url}?start={year_start}&end={end}&interval=1%20week",
        ),
        (
            "metrics: 1 month buckets over the last year (the seed's call)",
            f"{url}?start={year_start}&end={end}&interval=1%20month",
        ),
        (
            "metrics: 1 year buckets over the whole history (reads every row)",
            f"{url}?start={first}&end={end}&interval=1%20year",
        ),
    ]


def export_child(config_json: str, token: str) -> None:
    """Child process: stream the whole audit log as NDJSON; print rows, bytes, RSS growth."""
    from app import create_app

    app = create_app(json.loads(config_json))
    client = app.test_client()
    _reset_peak_rss()  # the peak so far (imports, app setup) would hide the export's own
    before = _peak_rss_kib()
    started = time.perf_counter()
    response = client.get(
        "/api/v0/audit?format=ndjson", headers={"Session-Token": token}, buffered=False
    )
    lines = size = 0
    for chunk in response.response:
        size += len(chunk)
        lines += chunk.count(b"\n") if isinstance(chunk, bytes) else chunk.count("\n")
    response.close()
    elapsed = time.perf_counter() - started
    growth = _peak_rss_kib() - before
    print(json.dumps({"lines": lines, "bytes": size, "seconds": elapsed, "rss_kib": growth}))


def _reset_peak_rss() -> None:
    """Linux: writing 5 to clear_refs resets VmHWM to the current resident size."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _peak_rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def run_child(*args: str) -> dict:
    """`python -m <args>` in a fresh process; the JSON object on its last line of output."""
    output = subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def export(config: dict, token: str) -> dict:
    return run_child("bench.scale", "--export-child", json.dumps(config), token)


def plans(database, queries) -> dict:
    """EXPLAIN of the SQL behind a few answers, for the report."""
    from app import db

    result = {}
    for name, query in queries:
        sql, params = query.sql()
        prefix = "EXPLAIN" if db.is_postgres() else "EXPLAIN QUERY PLAN"
        rows = database.execute_sql(f"{prefix} {sql}", params).fetchall()
        result[name] = [row[0] if db.is_postgres() else row[-1] for row in rows]
    return result


# --- one backend ----------------------------------------------------------------------------


def app_config(workdir: Path, sqlite_name: str) -> dict:
    """create_app's settings for a benchmark's own instance in `workdir` (SQLite there)."""
    return {
        "IGNORE_ENV": True,
        "INSTANCE_PATH": str(workdir / "instance"),
        "CODER_SECRET_KEY": "bench-secret-key",
        "CODER_LOGGING_HUMAN": "",
        "CODER_SQLITE_PATH": str(workdir / sqlite_name),
        "CODER_DANGEROUS_DISABLE_RATE_LIMITS": True,
    }


def run_backend(backend: str, sizes: list[int], repeat: int, workdir: Path) -> dict:
    from app import create_app, db
    from app.models import AuditLog, UserActivity
    from app.services import api_keys, audit_query, users
    from app.services.context import Caller

    config = app_config(workdir, "scale.sqlite3")
    scratch = None
    if backend == "postgres":
        scratch = f"pycoderd_scale_{uuid.uuid4().hex[:8]}"
        _pg_admin(f'CREATE DATABASE "{scratch}"')
        config["CODER_PG_CONNECTION_URL"] = PG_URL.rsplit("/", 1)[0] + f"/{scratch}"
    try:
        app = create_app(config)
        db.upgrade()
        database = db.database
        rng = random.Random(8)
        with database.connection_context():
            admin = users.create(
                Caller(user=None), username="auditor", email="a@example.com", roles=["site-auditor"]
            )
            token = api_keys.create(Caller(user=None), admin, lifetime_seconds=86400).token
        user_ids = [str(uuid.uuid4()) for _ in range(1000)]
        resources = [str(uuid.uuid4()) for _ in range(10_000)]
        client = app.test_client()
        headers = {"Session-Token": token}
        results = {"sizes": sizes, "queries": {}, "export": {}, "seed_seconds": {}, "plans": {}}
        seeded = 0
        for size in sizes:
            started = time.perf_counter()
            with database.connection_context():
                # A bulk load builds indexes once at the end instead of row by row.
                for model in (AuditLog, UserActivity):
                    model._schema.drop_indexes(safe=True)
                bulk_insert(
                    database,
                    "audit_log",
                    AUDIT_COLUMNS,
                    audit_rows(size - seeded, rng, user_ids, resources),
                )
                bulk_insert(
                    database,
                    "user_activity",
                    ("day", "user_id"),
                    activity_rows(seeded, size - seeded, user_ids),
                )
                for model in (AuditLog, UserActivity):
                    model._schema.create_indexes(safe=True)
                database.execute_sql("ANALYZE")
            results["seed_seconds"][size] = time.perf_counter() - started
            seeded = size
            history_days = size // USERS_PER_DAY
            for name, url in audit_queries(resources[0]) + metrics_queries(history_days):
                url = url.replace("USER", user_ids[0])
                ms = timed(get_json(client, headers, url), repeat)
                results["queries"].setdefault(name, {})[size] = ms
            results["export"][size] = export(config, token)
        with database.connection_context():
            results["plans"] = plans(
                database,
                [
                    (
                        "seed filter page",
                        audit_query._query(
                            audit_query.Filters(
                                resource_type="environment",
                                action="create",
                                range_start=1,
                                range_end=2_000_000_000,
                            ),
                            50,
                        ),
                    ),
                ],
            )
        return results
    finally:
        db.close()
        if hasattr(db.database.obj, "close_all"):
            db.database.obj.close_all()
        if scratch:
            _pg_admin(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')


def _pg_admin(statement: str) -> None:
    import psycopg2

    connection = psycopg2.connect(PG_URL)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(statement)
    connection.close()


def _pg_answers() -> bool:
    import psycopg2

    try:
        psycopg2.connect(PG_URL, connect_timeout=3).close()
    except psycopg2.Error:
        return False
    return True


# --- report ---------------------------------------------------------------------------------


def render(all_results: dict, command: str, load_before, load_after) -> str:
    lines = [
        f"Command: `{command}`. Machine: {os.cpu_count()} cores, {platform.platform()}, Python "
        f"{platform.python_version()}; date {dt.date.today().isoformat()}. Load average "
        f"(1/5/15 min) before: {_load(load_before)}; after: {_load(load_after)} — the machine "
        "is shared with other engineers' test suites, so absolute numbers are noisy; the "
        "ratios between sizes are what this measures.",
        "",
        "Times are medians of in-process requests through the Flask test client (auth, "
        "argument parsing, SQL, JSON), after one warm-up. Audit entries are spread over two "
        "years (5 resource types, 5 actions, 1,000 users, 10,000 resources). Activity is 25 "
        "users a day, so 10^6 rows are a longer history than 10^4: the one-year queries read "
        "the same rows at both sizes, and the whole-history query shows the cost of reading "
        "every row (it grows with the rows in range, by design).",
    ]
    for backend, results in all_results.items():
        small, large = results["sizes"][0], results["sizes"][-1]
        lines += [
            "",
            f"### {backend}",
            "",
            f"Seeding: {_n(small)} rows of each in {results['seed_seconds'][small]:.1f} s, "
            f"up to {_n(large)} in {results['seed_seconds'][large]:.1f} s more.",
            "",
            f"| query | {_n(small)} rows | {_n(large)} rows | ratio | goal |",
            "| --- | ---: | ---: | ---: | --- |",
        ]
        for name, by_size in results["queries"].items():
            ratio = by_size[large] / by_size[small]
            goal = "≤ 2×" if "whole history" not in name else "(grows with range)"
            verdict = "" if goal.startswith("(") else (" ✔" if ratio <= 2 else " ✘")
            lines.append(
                f"| {name} | {by_size[small]:.1f} ms | {by_size[large]:.1f} ms | "
                f"{ratio:.2f}× | {goal}{verdict} |"
            )
        for size, exported in results["export"].items():
            mib = exported["rss_kib"] / 1024
            lines.append(
                f"| NDJSON export of all {_n(exported['lines'])} entries "
                f"({exported['bytes'] / 2**20:.0f} MiB) | | {exported['seconds']:.1f} s | | "
                f"peak RSS growth {mib:.1f} MiB (goal < 50 MiB){' ✔' if mib < 50 else ' ✘'} |"
                if size == large
                else f"| NDJSON export of all {_n(exported['lines'])} entries | "
                f"{exported['seconds']:.2f} s | | | peak RSS growth {mib:.1f} MiB |"
            )
        for name, plan in results["plans"].items():
            lines += ["", f"Plan of the {name} at {_n(large)} rows:", "", "```"]
            lines += plan
            lines += ["```"]
    return "\n".join(lines)


def _n(count: int) -> str:
    exponent = len(str(count)) - 1
    return f"10^{exponent}" if count == 10**exponent else f"{count:,}"


def _load(values) -> str:
    return "/".join(f"{v:.2f}" for v in values)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--export-child":
        export_child(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,1000000")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--no-write", action="store_true", help="print, don't touch BENCHMARKS.md")
    args = parser.parse_args()
    sizes = sorted(int(size) for size in args.sizes.split(","))
    backends = [b for b in args.backends.split(",") if b]
    if "postgres" in backends and not _pg_answers():
        print(f"PostgreSQL does not answer at {PG_URL}: skipping it", file=sys.stderr)
        backends.remove("postgres")
    load_before = os.getloadavg()
    all_results = {}
    for backend in backends:
        with tempfile.TemporaryDirectory(prefix="pycoderd-scale-") as workdir:
            print(f"scale: {backend} ...", file=sys.stderr, flush=True)
            all_results[backend] = run_backend(backend, sizes, args.repeat, Path(workdir))
    command = (
        f".venv/bin/python -m bench.scale --sizes {args.sizes} --backends {','.join(backends)} "
        f"--repeat {args.repeat}` (also run by `make bench"
    )
    text = render(all_results, command, load_before, os.getloadavg())
    print(text)
    if not args.no_write:
        report.write_section("Audit log and usage metrics at scale", text)


if __name__ == "__main__":
    main()
