"""The classic SDK's workspace settings: GPU vendor, container VMs, workspaces as code, P2P."""

from peewee import BooleanField, CharField

TABLE = "workspace_config"
COLUMNS = {
    "gpu_vendor": lambda: CharField(max_length=16, default=""),
    "enable_container_vms": lambda: BooleanField(default=False),
    "enable_workspaces_as_code": lambda: BooleanField(default=False),
    "enable_p2p": lambda: BooleanField(default=False),
}


def up(migrator, db):
    migrator.migrate(*(migrator.add_column(TABLE, name, make()) for name, make in COLUMNS.items()))


def down(migrator, db):
    migrator.migrate(*(migrator.drop_column(TABLE, name) for name in COLUMNS))
