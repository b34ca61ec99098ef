"""Dev URLs (a workspace port at its own host name) and the proxy's traffic samples."""

from peewee import (
    AutoField,
    BigIntegerField,
    CharField,
    FloatField,
    ForeignKeyField,
    IntegerField,
    TextField,
)

from app.models.base import BaseModel, DateTimeField, TimestampedModel, utcnow
from app.models.workspaces import Workspace

ACCESS_LEVELS = ("PRIVATE", "ORG", "AUTHED", "PUBLIC")


class DevURL(TimestampedModel):
    workspace = ForeignKeyField(Workspace, on_delete="CASCADE", backref="devurls")
    name = CharField(max_length=64, null=True)
    port = IntegerField()
    access = CharField(max_length=16, default="PRIVATE")  # ACCESS_LEVELS
    scheme = CharField(max_length=8, default="http")
    # `<name>--<username>`, lower-cased, for named dev URLs: the host label, unique (SPEC §15).
    host_label = CharField(max_length=96, null=True, unique=True)

    class Meta:
        table_name = "dev_url"
        indexes = ((("workspace", "port"), True), (("name",), False))


class ProxyTrafficSample(BaseModel):
    """One proxied request: bytes each way and upstream latency (deployment stats)."""

    id = AutoField()
    time = DateTimeField(default=utcnow)
    workspace_id = CharField(max_length=36)
    rx_bytes = BigIntegerField(default=0)
    tx_bytes = BigIntegerField(default=0)
    latency_ms = FloatField(default=0.0)

    class Meta:
        table_name = "proxy_traffic_sample"
        indexes = ((("time",), False),)


class DevURLTicket(BaseModel):
    """A sign-in ticket for one dev URL host: a random token, stored only as its SHA-256, good
    for one redemption within a minute (deleted as it is redeemed, by whichever worker or
    instance gets there first)."""

    token_hash = CharField(primary_key=True, max_length=64)
    user_id = CharField(max_length=36)
    api_key_id = CharField(max_length=10)  # the session that asked: the cookie lives with it
    host = CharField(max_length=255)  # lower-cased host[:port] of the dev URL
    path = TextField()  # where the browser goes next, a path on that host
    expires_at = DateTimeField(index=True)

    class Meta:
        table_name = "devurl_ticket"
