"""Resource pools (Coder classic's workspace providers): where a workspace's container runs."""

from peewee import BooleanField, CharField, TextField

from app.models.base import TimestampedModel

# The one pool every deployment has: the engine pycoderd is configured with (CODER_DOCKER_HOST).
# Fixed, so that every database, migration and client agrees on it.
BUILT_IN_ID = "fad8087a-c8c6-563c-adaa-ce5c183bf919"
BUILT_IN_NAME = "built-in"


class ResourcePool(TimestampedModel):
    """A pool's identity and who may use it. Its address and engine come from the deployment's
    settings for the built-in pool (and, once pools can be added, from columns of their own)."""

    name = CharField(max_length=64, unique=True)
    built_in = BooleanField(default=False)
    org_whitelist = TextField(default="[]")  # JSON organization ids; [] = every organization

    class Meta:
        table_name = "resource_pool"
