"""Results the background process computes once for every worker: stats, update check."""

from peewee import CharField, DateTimeField, Model, TextField


def _models(db):
    class DeploymentSnapshot(Model):
        kind = CharField(primary_key=True, max_length=64)
        data = TextField(null=True)
        computed_at = DateTimeField(null=True)
        refresh_after = DateTimeField()

        class Meta:
            database = db
            table_name = "deployment_snapshot"

    return [DeploymentSnapshot]


def up(migrator, db):
    db.create_tables(_models(db))


def down(migrator, db):
    db.drop_tables(_models(db))
