"""The data layer: migrations and models agree; upgrade/downgrade round-trips."""

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


def test_sqlite_pragmas(app):
    if db.is_postgres():
        return
    with db.database.connection_context():
        assert db.database.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.database.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1
        assert db.database.execute_sql("PRAGMA busy_timeout").fetchone()[0] == 10000
