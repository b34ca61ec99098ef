"""Workspaces (containers built from images), their provisioner jobs and build logs."""

from peewee import (
    BigIntegerField,
    BooleanField,
    CharField,
    FloatField,
    ForeignKeyField,
    IntegerField,
    TextField,
)

from app.models.base import BaseModel, DateTimeField, TimestampedModel, UUIDModel, utcnow
from app.models.images import Image
from app.models.organizations import Organization
from app.models.resource_pools import BUILT_IN_ID
from app.models.users import User

CONTAINER_STATUSES = ("CREATING", "OFF", "ON", "FAILED", "UNKNOWN")


class Workspace(TimestampedModel):
    name = CharField(max_length=64)
    user = ForeignKeyField(User, on_delete="CASCADE", backref="workspaces")
    organization = ForeignKeyField(Organization, on_delete="CASCADE", backref="workspaces")
    image = ForeignKeyField(Image, on_delete="RESTRICT", backref="workspaces")
    image_tag = CharField(max_length=128, default="latest")
    cpu_cores = FloatField(default=1.0)
    memory_gb = FloatField(default=1.0)
    disk_gb = IntegerField(default=10)
    gpus = IntegerField(default=0)
    auto_off_threshold_ms = BigIntegerField(default=0)
    use_container_vm = BooleanField(default=False)
    resource_pool_id = CharField(max_length=64, default=BUILT_IN_ID)  # a ResourcePool's id
    container_id = CharField(max_length=128, default="")
    container_status = CharField(max_length=16, default="CREATING")  # CONTAINER_STATUSES
    # Where the dev URL proxy reaches the running container: 127.0.0.1 on the host network, its
    # IP on a bridge; empty while it is not running. Internal: no API shape has a field for it.
    network_address = CharField(max_length=64, default="")
    # The names that lead here, lower-cased and unique (SPEC §15): the SSH login
    # `<username>-<workspace>` and the dev URL label `<workspace>-<username>` (its hosts are
    # `<port>--<label>`). Kept in step with renames by app.services.addresses; NULL leaves the
    # workspace unreachable by that name (a collision the migration found in older data).
    ssh_login = CharField(max_length=104, null=True, unique=True)
    devurl_label = CharField(max_length=104, null=True, unique=True)
    rebuild_messages = TextField(default="[]")  # JSON [{"text", "required", "auto_off_threshold"}]
    last_built_at = DateTimeField(null=True)
    last_opened_at = DateTimeField(null=True)
    last_connection_at = DateTimeField(null=True)
    # latest_stat, refreshed by the stats collector
    stat_time = DateTimeField(null=True)
    last_online = DateTimeField(null=True)
    stat_error = TextField(default="")
    cpu_usage = FloatField(default=0.0)
    memory_total = BigIntegerField(default=0)
    memory_usage = BigIntegerField(default=0)
    disk_total = BigIntegerField(default=0)
    disk_used = BigIntegerField(default=0)

    class Meta:
        indexes = (
            (("user", "name"), True),
            (("organization",), False),
            (("container_status",), False),
            (("resource_pool_id",), False),
        )


class ProvisionerJob(TimestampedModel):
    """One build, stop or delete of a workspace, queued in the database for a daemon."""

    workspace = ForeignKeyField(Workspace, on_delete="CASCADE", backref="jobs")
    kind = CharField(max_length=16)  # build | stop | delete
    status = CharField(
        max_length=16, default="pending"
    )  # pending|running|succeeded|failed|canceled
    initiator_id = CharField(max_length=36, null=True)
    worker_id = CharField(max_length=128, default="")
    started_at = DateTimeField(null=True)
    heartbeat_at = DateTimeField(null=True)
    completed_at = DateTimeField(null=True)
    cancel_requested = BooleanField(default=False)
    error = TextField(default="")

    class Meta:
        table_name = "provisioner_job"
        indexes = ((("status", "created_at"), False), (("workspace", "created_at"), False))


class BuildLog(UUIDModel):
    workspace = ForeignKeyField(Workspace, on_delete="CASCADE", backref="build_logs")
    job = ForeignKeyField(ProvisionerJob, on_delete="CASCADE", backref="logs")
    time = DateTimeField(default=utcnow)
    type = CharField(max_length=16)  # start | stage | error | substage | done
    msg = TextField(default="")

    class Meta:
        table_name = "build_log"
        indexes = ((("job", "time"), False),)


class WorkspaceConfig(BaseModel):
    """Deployment-wide workspace settings: one row, id 1 (GET/PUT /api/v0/workspaces/config)."""

    id = IntegerField(primary_key=True)
    auto_off_threshold_ms = BigIntegerField(default=0)
    max_cpu_cores = FloatField(default=0.0)  # 0: no cap
    max_memory_gb = FloatField(default=0.0)
    max_disk_gb = IntegerField(default=0)
    # The classic SDK's ConfigWorkspaces (migration 0012); app.services.workspaces says which
    # values pycoderd can honour.
    gpu_vendor = CharField(max_length=16, default="")
    enable_container_vms = BooleanField(default=False)
    enable_workspaces_as_code = BooleanField(default=False)
    enable_p2p = BooleanField(default=False)
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "workspace_config"
