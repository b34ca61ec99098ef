"""The data layer: migrations and models agree; upgrade/downgrade round-trips."""

import peewee
import pytest
from peewee import SqliteDatabase
from playhouse.migrations import Runner
from playhouse.schema_diff import diff_models

from app import db, models
from app.models import Organization


def test_models_and_migrations_agree(app):
    with db.database.connection_context():
        difference = diff_models(db.database.obj, list(models.ALL))
    assert not difference, str(difference)


def test_every_migration_is_applied(app):
    assert db.pending() == []


def test_default_organization_exists(app):
    with db.database.connection_context():
        default = Organization.get(Organization.is_default == True)  # noqa: E712
    assert default.name == "default"


def test_downgrade_then_upgrade(app):
    names = [m.name for m in db.status()]
    reverted = db.downgrade(names[0])
    assert reverted == list(reversed(names))
    assert db.pending() == names
    assert db.upgrade() == names
    with db.database.connection_context():
        assert not diff_models(db.database.obj, list(models.ALL))


def test_a_migration_landing_after_a_higher_numbered_one_is_still_applied(tmp_path):
    """Branches land in any order: 0007 may be applied before 0006 exists. The history is kept
    by name, so `upgrade` applies every file not yet applied, whatever its number."""
    folder = tmp_path / "migrations"
    folder.mkdir()
    body = "def up(migrator, db):\n    db.execute_sql('CREATE TABLE {0} (id INTEGER)')\n"
    database = SqliteDatabase(str(tmp_path / "order.sqlite3"))
    (folder / "0007_later.py").write_text(body.format("later"))
    assert Runner(database, directory=str(folder)).up() == ["0007_later"]
    (folder / "0006_earlier.py").write_text(body.format("earlier"))
    runner = Runner(database, directory=str(folder))
    assert [m.name for m in runner.status() if not m.applied] == ["0006_earlier"]
    assert runner.up() == ["0006_earlier"]
    assert set(database.get_tables()) >= {"earlier", "later"}
    database.close()


def test_sqlite_pragmas(app):
    if db.is_postgres():
        return
    with db.database.connection_context():
        assert db.database.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.database.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1
        assert db.database.execute_sql("PRAGMA busy_timeout").fetchone()[0] == 10000


@pytest.mark.parametrize(
    "stored",
    [
        "2026-12-02 06:42:36.123456",
        "2026-12-02 06:42:36",
        "2026-12-02T06:42:36.5",
        "2026-12-02",
        "2026-12-02 06:42:36+00:00",
        "2026-12-02 06:42:36Z",
        "02/12/2026",  # neither way parses it: the text comes back as it is
        "",
        None,
    ],
)
def test_datetime_columns_read_as_peewee_reads_them(stored):
    from app.models.base import DateTimeField

    assert DateTimeField().python_value(stored) == peewee.DateTimeField().python_value(stored)
