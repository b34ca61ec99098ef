"""Unique names for workspaces and named dev URLs: SSH login, dev URL label, dev URL host label.

Existing rows are backfilled oldest first. Where older data already gives two targets the same
name, the first keeps it and the later ones are left without it (unreachable by that name, until
renamed): the migration logs each and does not fail.
"""

import logging

from peewee import CharField, Model

log = logging.getLogger("pycoderd.migrations")

COLUMNS = (
    ("workspace", "ssh_login", 104),
    ("workspace", "devurl_label", 104),
    ("dev_url", "host_label", 96),
)


def _models(db):
    class Workspace(Model):
        id = CharField(primary_key=True)
        ssh_login = CharField(null=True)
        devurl_label = CharField(null=True)

        class Meta:
            database = db
            table_name = "workspace"

    class DevURL(Model):
        id = CharField(primary_key=True)
        host_label = CharField(null=True)

        class Meta:
            database = db
            table_name = "dev_url"

    return Workspace, DevURL


def _assign(rows, what: str) -> dict:
    """{row id: name} for rows (id, name) in age order, each name to its first row only."""
    taken: dict = {}
    assigned = {}
    for row_id, name in rows:
        if name in taken:
            log.warning(
                '%s "%s" of %s is left unset: %s has it already (rename one of them)',
                what,
                name,
                row_id,
                taken[name],
            )
            continue
        taken[name] = row_id
        assigned[row_id] = name
    return assigned


def _backfill(db) -> None:
    Workspace, DevURL = _models(db)
    workspaces = db.execute_sql(
        'SELECT w.id, w.name, u.username FROM workspace w JOIN "user" u ON u.id = w.user_id '
        "ORDER BY w.created_at, w.id"
    ).fetchall()
    logins = _assign(
        [(w_id, f"{username}-{name}".lower()) for w_id, name, username in workspaces],
        "SSH login",
    )
    labels = _assign(
        [(w_id, f"{name}-{username}".lower()) for w_id, name, username in workspaces],
        "dev URL label",
    )
    for w_id, _, _ in workspaces:
        Workspace.update(ssh_login=logins.get(w_id), devurl_label=labels.get(w_id)).where(
            Workspace.id == w_id
        ).execute()
    named = db.execute_sql(
        "SELECT d.id, d.name, u.username FROM dev_url d "
        'JOIN workspace w ON w.id = d.workspace_id JOIN "user" u ON u.id = w.user_id '
        "WHERE d.name IS NOT NULL AND d.name <> '' ORDER BY d.created_at, d.id"
    ).fetchall()
    hosts = _assign(
        [(d_id, f"{name}--{username}".lower()) for d_id, name, username in named],
        "dev URL host",
    )
    for d_id, label in hosts.items():
        DevURL.update(host_label=label).where(DevURL.id == d_id).execute()


def up(migrator, db):
    migrator.migrate(
        *(
            migrator.add_column(table, column, CharField(max_length=size, null=True))
            for table, column, size in COLUMNS
        )
    )
    _backfill(db)
    migrator.migrate(*(migrator.add_index(table, (column,), True) for table, column, _ in COLUMNS))


def down(migrator, db):
    migrator.migrate(
        *(migrator.drop_index(table, f"{table}_{column}") for table, column, _ in COLUMNS)
    )
    migrator.migrate(*(migrator.drop_column(table, column) for table, column, _ in COLUMNS))
