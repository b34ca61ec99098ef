"""Deployment-wide workspace settings (GET/PUT /api/v0/workspaces/config)."""

from peewee import BigIntegerField, DateTimeField, FloatField, IntegerField, Model


def _models(db):
    class WorkspaceConfig(Model):
        id = IntegerField(primary_key=True)
        auto_off_threshold_ms = BigIntegerField(default=0)
        max_cpu_cores = FloatField(default=0.0)
        max_memory_gb = FloatField(default=0.0)
        max_disk_gb = IntegerField(default=0)
        updated_at = DateTimeField()

        class Meta:
            database = db
            table_name = "workspace_config"

    return [WorkspaceConfig]


def up(migrator, db):
    db.create_tables(_models(db))


def down(migrator, db):
    db.drop_tables(_models(db))
