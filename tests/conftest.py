"""Fixtures: a fresh database per test (SQLite file, or a truncated PostgreSQL database)."""

from __future__ import annotations

import os
import socket
import uuid

import psycopg2
import pytest
from psycopg2 import sql

from app import create_app, db
from tests import pg_available
from tests.support.lookups import LookupProbe

pytest_plugins = [
    "tests.support.registry",
    "tests.support.podman",
    "tests.support.workspaces",
    "tests.support.releases",
    "tests.support.browser",
]

BACKEND = os.environ.get("PYCODERD_TEST_DB", "sqlite")
IN_CI = os.environ.get("CI") == "true"


def pytest_report_header(config):
    return f"pycoderd database backend: {BACKEND}"


def pytest_sessionstart(session):
    """What killed runs could not take with them: Podman containers, private clusters' folders."""
    # Imported here: `pytest_plugins` must import tests.support.* first (assertion rewriting).
    from tests.gates import postgres_cluster
    from tests.support import podman

    podman.sweep_dead_runs()
    postgres_cluster.sweep_dead_runs()


def _pg_url_for(database: str) -> str:
    base = pg_available.admin_url().rsplit("/", 1)[0]
    return f"{base}/{database}"


@pytest.fixture(scope="session")
def pg_database():
    """A PostgreSQL database of its own for this session, dropped at the end."""
    if BACKEND != "postgres":
        yield None
        return
    if not pg_available.available():
        if IN_CI:
            pytest.fail("PostgreSQL is required under CI=true and does not answer")
        pytest.skip("PostgreSQL does not answer: start it or set PYCODERD_TEST_PG_URL")
    name = f"pycoderd_test_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(pg_available.admin_url())
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _pg_url_for(name)
    finally:
        db.close()
        if db.database.obj is not None and hasattr(db.database.obj, "close_all"):
            db.database.obj.close_all()
        with admin.cursor() as cursor:
            cursor.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        admin.close()


_migrated: set = set()


def base_config(tmp_path, pg_url=None) -> dict:
    config = {
        "TESTING": True,
        "IGNORE_ENV": True,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "CODER_SECRET_KEY": "test-secret-key-not-for-production",
        "CODER_LOGGING_HUMAN": "",
        "CODER_SQLITE_PATH": str(tmp_path / "pycoderd.sqlite3"),
        # Tests that need these turn them on (and never reach past loopback).
        "CODER_UPDATE_CHECK": False,
        "CODER_DANGEROUS_DISABLE_RATE_LIMITS": True,
    }
    if pg_url:
        config["CODER_PG_CONNECTION_URL"] = pg_url
    return config


def _reset_postgres() -> None:
    """Empty every table but the migration history, keeping the default organization."""
    with db.database.connection_context():
        tables = [t for t in db.database.get_tables() if t != "schema_migration"]
        kept = {"organization"}
        names = ", ".join(f'"{t}"' for t in tables if t not in kept)
        if names:
            db.database.execute_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
        db.database.execute_sql("DELETE FROM organization WHERE NOT is_default")


@pytest.fixture
def make_app(tmp_path, pg_database):
    """Build an app on this test's database; options may be overridden per call."""

    def factory(**overrides):
        app = create_app({**base_config(tmp_path, pg_database), **overrides})
        key = pg_database or str(tmp_path)
        if key not in _migrated:
            db.upgrade()
            _migrated.add(key)
        return app

    if pg_database:
        create_app(base_config(tmp_path, pg_database))
        if pg_database in _migrated:
            _reset_postgres()
    yield factory
    db.close()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def lookups(monkeypatch):
    """Every name looked up during the test (only loopback ones are resolved)."""
    probe = LookupProbe()
    monkeypatch.setattr(socket, "getaddrinfo", probe)
    return probe


@pytest.fixture
def runner(app):
    return app.test_cli_runner()
