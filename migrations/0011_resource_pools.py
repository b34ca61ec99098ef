"""Resource pools: the built-in pool, and every workspace placed in it."""

import datetime as dt

from peewee import BooleanField, CharField, DateTimeField, Model, Table, TextField

BUILT_IN_ID = "fad8087a-c8c6-563c-adaa-ce5c183bf919"  # app.models.resource_pools.BUILT_IN_ID


def _models(db):
    class ResourcePool(Model):
        id = CharField(primary_key=True, max_length=36)
        name = CharField(max_length=64, unique=True)
        built_in = BooleanField(default=False)
        org_whitelist = TextField(default="[]")
        created_at = DateTimeField()
        updated_at = DateTimeField()

        class Meta:
            database = db
            table_name = "resource_pool"

    return ResourcePool


def up(migrator, db):
    pool = _models(db)
    db.create_tables([pool])
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    pool.insert(
        id=BUILT_IN_ID,
        name="built-in",
        built_in=True,
        org_whitelist="[]",
        created_at=now,
        updated_at=now,
    ).execute()
    # Only the built-in pool has ever existed: every workspace ran on it.
    workspace = Table("workspace", ("id", "resource_pool_id")).bind(db)
    workspace.update(resource_pool_id=BUILT_IN_ID).execute()
    migrator.migrate(migrator.add_index("workspace", ("resource_pool_id",), False))


def down(migrator, db):
    migrator.migrate(migrator.drop_index("workspace", "workspace_resource_pool_id"))
    workspace = Table("workspace", ("id", "resource_pool_id")).bind(db)
    workspace.update(resource_pool_id="").execute()
    db.drop_tables([_models(db)])
