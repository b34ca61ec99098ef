"""The address at which the dev URL proxy reaches a workspace's running container."""

from peewee import CharField

TABLE = "workspace"
COLUMN = "network_address"


def up(migrator, db):
    migrator.migrate(migrator.add_column(TABLE, COLUMN, CharField(max_length=64, default="")))


def down(migrator, db):
    migrator.migrate(migrator.drop_column(TABLE, COLUMN))
