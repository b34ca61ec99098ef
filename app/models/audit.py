"""The audit log: one row per change, written with the change."""

from peewee import CharField, IntegerField, TextField

from app.models.base import DateTimeField, UUIDModel, utcnow


class AuditLog(UUIDModel):
    time = DateTimeField(default=utcnow)
    organization_id = CharField(max_length=36, null=True)
    user_id = CharField(max_length=36, null=True)
    username = CharField(max_length=255, default="")
    ip = CharField(max_length=64, default="")
    user_agent = CharField(max_length=1024, default="")
    action = CharField(max_length=32)
    resource_type = CharField(max_length=32)
    resource_id = CharField(max_length=64, default="")
    resource_target = CharField(max_length=255, default="")
    diff = TextField(default="{}")  # JSON: field -> {"old", "new"}
    status_code = IntegerField(default=200)
    request_id = CharField(max_length=36, default="")

    class Meta:
        # Every filter of GET /api/v0/audit leads an index that ends in (time, id): the newest
        # page of any filter combination, and each keyset batch of an export, is a range scan
        # in index order, so its cost does not grow with the table (migration 0005).
        indexes = (
            (("time", "id"), False),
            (("resource_type", "time", "id"), False),
            (("resource_type", "action", "time", "id"), False),
            (("resource_id", "time", "id"), False),
            (("user_id", "time", "id"), False),
            (("action", "time", "id"), False),
        )
