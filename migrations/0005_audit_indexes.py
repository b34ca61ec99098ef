"""Audit log indexes ending in (time, id), for newest-first pages and keyset exports."""

OLD = (
    ("time",),
    ("resource_type", "time"),
    ("resource_id", "time"),
    ("user_id", "time"),
    ("action", "time"),
)
NEW = (
    ("time", "id"),
    ("resource_type", "time", "id"),
    ("resource_type", "action", "time", "id"),
    ("resource_id", "time", "id"),
    ("user_id", "time", "id"),
    ("action", "time", "id"),
)
TABLE = "audit_log"


def _name(columns) -> str:
    return "_".join((TABLE, *columns))


def _swap(migrator, drop, add) -> None:
    operations = [migrator.drop_index(TABLE, _name(columns)) for columns in drop]
    operations += [migrator.add_index(TABLE, columns, False) for columns in add]
    migrator.migrate(*operations)


def up(migrator, db):
    _swap(migrator, OLD, NEW)


def down(migrator, db):
    _swap(migrator, NEW, OLD)
