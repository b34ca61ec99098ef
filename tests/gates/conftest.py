"""Fixtures for the quality gates: real gunicorn servers, a private PostgreSQL, nginx."""

from __future__ import annotations

import os
import uuid

import psycopg2
import pytest
from psycopg2 import sql

from tests import pg_available
from tests.conftest import BACKEND, IN_CI
from tests.gates import postgres_cluster


def pytest_collection_modifyitems(config, items):
    """`@pytest.mark.backend("postgres")` tests belong to that run only: deselected, not skipped."""
    keep, drop = [], []
    for item in items:
        marker = item.get_closest_marker("backend")
        (drop if marker and marker.args[0] != BACKEND else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def need(condition: bool, message: str) -> None:
    """Skip with a message when a real part is missing; under CI=true that is a failure."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required under CI=true: {message}")
    pytest.skip(message)


@pytest.fixture
def private_postgres():
    """A fresh PostgreSQL cluster of this test's own, stopped (by pid) and removed at the end."""
    need(postgres_cluster.binaries() is not None, "PostgreSQL binaries: apt-get install postgresql")
    need(
        os.geteuid() != 0 or _has_postgres_user(),
        "a `postgres` system user to run a private cluster as (apt-get install postgresql)",
    )
    cluster = postgres_cluster.PrivateCluster()
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


def _has_postgres_user() -> bool:
    import pwd

    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return False
    return True


@pytest.fixture
def server_database(tmp_path):
    """Settings for a live server on this run's backend: a SQLite file, or a PostgreSQL database
    of its own on the shared server (dropped at the end). Yields (env, peewee database URL)."""
    if BACKEND != "postgres":
        path = tmp_path / "live.sqlite3"
        yield {"CODER_SQLITE_PATH": str(path)}, f"sqlite:///{path}"
        return
    need(pg_available.available(), "PostgreSQL on 127.0.0.1:5432 (.ci/services.sh starts it)")
    name = f"pycoderd_gates_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(pg_available.admin_url())
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = f"{pg_available.admin_url().rsplit('/', 1)[0]}/{name}"
    try:
        yield {"CODER_PG_CONNECTION_URL": url}, url
    finally:
        with admin.cursor() as cursor:
            cursor.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        admin.close()
