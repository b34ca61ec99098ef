"""Deployment-wide results computed by the background process, one row per kind."""

from peewee import CharField, TextField

from app.models.base import BaseModel, DateTimeField


class DeploymentSnapshot(BaseModel):
    """The latest result of one periodic computation (deployment stats, update check).

    `data` is JSON text, NULL until a computation has succeeded; `computed_at` is when it was
    computed. `refresh_after` is when the next computation is due; a process claims a round by
    moving it forward (a conditional UPDATE), so several processes never compute one round twice.
    """

    kind = CharField(primary_key=True, max_length=64)
    data = TextField(null=True)
    computed_at = DateTimeField(null=True)
    refresh_after = DateTimeField()

    class Meta:
        table_name = "deployment_snapshot"
