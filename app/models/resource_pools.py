"""Resource pools (Coder classic's workspace providers): where a workspace's container runs."""

from peewee import BooleanField, CharField, DateTimeField, TextField

from app.models.base import TimestampedModel, utcnow

# The one pool every deployment has: the engine pycoderd is configured with (CODER_DOCKER_HOST).
# Fixed, so that every database, migration and client agrees on it.
BUILT_IN_ID = "fad8087a-c8c6-563c-adaa-ce5c183bf919"
BUILT_IN_NAME = "built-in"

# The health check's verdicts; "" is "never checked" (see app.services.resource_pools.status).
READY, PENDING, UNREACHABLE = "ready", "pending", "unreachable"


class ResourcePool(TimestampedModel):
    """One container engine. The built-in pool's engine is the deployment's CODER_DOCKER_HOST
    (its `cluster_address` stays empty); every other pool names its own."""

    name = CharField(max_length=64, unique=True)
    built_in = BooleanField(default=False)
    org_whitelist = TextField(default="[]")  # JSON organization ids; [] = every organization
    engine_type = CharField(max_length=16, default="docker")
    cluster_address = CharField(max_length=1024, default="")  # unix://, tcp:// or ssh://
    hostname = CharField(max_length=1024, default="")  # where clients reach this pool
    # PEM, encrypted with app.crypto (never returned): for tcp:// with TLS.
    tls_ca_encrypted = TextField(default="")
    tls_cert_encrypted = TextField(default="")
    tls_key_encrypted = TextField(default="")
    cordoned = BooleanField(default=False)
    cordon_reason = TextField(default="")
    status = CharField(max_length=16, default="")  # the last health check's verdict
    status_error = TextField(default="")  # why it was unreachable
    checked_at = DateTimeField(null=True)

    class Meta:
        table_name = "resource_pool"


def built_in() -> ResourcePool:
    """The built-in pool (the migration creates it; a database without it gets it back)."""
    pool = ResourcePool.get_or_none(ResourcePool.id == BUILT_IN_ID)
    if pool is None:
        now = utcnow()
        ResourcePool.insert(
            id=BUILT_IN_ID, name=BUILT_IN_NAME, built_in=True, created_at=now, updated_at=now
        ).on_conflict_ignore().execute()
        pool = ResourcePool.get_by_id(BUILT_IN_ID)
    return pool
