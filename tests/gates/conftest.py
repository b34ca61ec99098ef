"""Fixtures for the quality gates: real gunicorn servers, a private PostgreSQL, nginx."""

from __future__ import annotations

import os

import pytest

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
