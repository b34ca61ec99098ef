"""Registries, images, tags, workspaces, provisioner jobs, build logs, dev URLs, proxy traffic."""

from peewee import (
    AutoField,
    BigIntegerField,
    BooleanField,
    CharField,
    DateTimeField,
    FloatField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)


def _models(db):
    class Base(Model):
        class Meta:
            database = db
            legacy_table_names = False

    class User(Base):
        id = CharField(primary_key=True, max_length=36)

    class Organization(Base):
        id = CharField(primary_key=True, max_length=36)

    class Registry(Base):
        id = CharField(primary_key=True, max_length=36)
        created_at = DateTimeField()
        updated_at = DateTimeField()
        organization = ForeignKeyField(Organization, on_delete="CASCADE", backref="registries")
        friendly_name = CharField(max_length=255)
        registry = CharField(max_length=255)
        username = CharField(max_length=255, default="")
        password_encrypted = TextField(default="")

        class Meta:
            indexes = ((("organization", "registry", "username"), False),)

    class Image(Base):
        id = CharField(primary_key=True, max_length=36)
        created_at = DateTimeField()
        updated_at = DateTimeField()
        organization = ForeignKeyField(Organization, on_delete="CASCADE", backref="images")
        registry = ForeignKeyField(Registry, on_delete="RESTRICT", backref="images")
        repository = CharField(max_length=255)
        description = TextField(default="")
        url = CharField(max_length=1024, default="")
        default_tag = CharField(max_length=128, default="latest")
        default_cpu_cores = FloatField(default=1.0)
        default_memory_gb = FloatField(default=1.0)
        default_disk_gb = IntegerField(default=10)
        deprecated = BooleanField(default=False)

        class Meta:
            indexes = ((("organization", "registry", "repository"), True),)

    class ImageTag(Base):
        id = CharField(primary_key=True, max_length=36)
        created_at = DateTimeField()
        updated_at = DateTimeField()
        image = ForeignKeyField(Image, on_delete="CASCADE", backref="tags")
        tag = CharField(max_length=128)
        latest_hash = CharField(max_length=128, default="")
        hash_last_updated_at = DateTimeField(null=True)
        os_release = TextField(null=True)

        class Meta:
            indexes = ((("image", "tag"), True),)

    class Workspace(Base):
        id = CharField(primary_key=True, max_length=36)
        created_at = DateTimeField()
        updated_at = DateTimeField()
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
        resource_pool_id = CharField(max_length=64, default="")
        container_id = CharField(max_length=128, default="")
        container_status = CharField(max_length=16, default="CREATING")
        rebuild_messages = TextField(default="[]")
        last_built_at = DateTimeField(null=True)
        last_opened_at = DateTimeField(null=True)
        last_connection_at = DateTimeField(null=True)

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
            )

    class ProvisionerJob(Base):
        id = CharField(primary_key=True, max_length=36)
        created_at = DateTimeField()
        updated_at = DateTimeField()
        workspace = ForeignKeyField(Workspace, on_delete="CASCADE", backref="jobs")
        kind = CharField(max_length=16)
        status = CharField(max_length=16, default="pending")
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

    class BuildLog(Base):
        id = CharField(primary_key=True, max_length=36)
        workspace = ForeignKeyField(Workspace, on_delete="CASCADE", backref="build_logs")
        job = ForeignKeyField(ProvisionerJob, on_delete="CASCADE", backref="logs")
        time = DateTimeField()
        type = CharField(max_length=16)
        msg = TextField(default="")

        class Meta:
            table_name = "build_log"
            indexes = ((("job", "time"), False),)

    class DevURL(Base):
        id = CharField(primary_key=True, max_length=36)
        created_at = DateTimeField()
        updated_at = DateTimeField()
        workspace = ForeignKeyField(Workspace, on_delete="CASCADE", backref="devurls")
        name = CharField(max_length=64, null=True)
        port = IntegerField()
        access = CharField(max_length=16, default="PRIVATE")
        scheme = CharField(max_length=8, default="http")

        class Meta:
            table_name = "dev_url"
            indexes = ((("workspace", "port"), True), (("name",), False))

    class ProxyTrafficSample(Base):
        id = AutoField()
        time = DateTimeField()
        workspace_id = CharField(max_length=36)
        rx_bytes = BigIntegerField(default=0)
        tx_bytes = BigIntegerField(default=0)
        latency_ms = FloatField(default=0.0)

        class Meta:
            table_name = "proxy_traffic_sample"
            indexes = ((("time",), False),)

    return [
        Registry,
        Image,
        ImageTag,
        Workspace,
        ProvisionerJob,
        BuildLog,
        DevURL,
        ProxyTrafficSample,
    ]


def up(migrator, db):
    db.create_tables(_models(db))


def down(migrator, db):
    db.drop_tables(list(reversed(_models(db))))
