"""Organizations and their members."""

from peewee import (
    BigIntegerField,
    BooleanField,
    CharField,
    FloatField,
    ForeignKeyField,
)

from app.models.base import DateTimeField, TimestampedModel, UUIDModel, utcnow
from app.models.users import User

ORGANIZATION_ROLES = ("organization-admin", "organization-manager", "organization-member")


class Organization(TimestampedModel):
    name = CharField(max_length=255, unique=True)
    description = CharField(max_length=1024, default="")
    is_default = BooleanField(default=False)
    resource_namespace = CharField(max_length=255, default="")
    auto_off_threshold_ms = BigIntegerField(default=0)
    cpu_provisioning_rate = FloatField(default=4.0)
    memory_provisioning_rate = FloatField(default=1.0)


class OrganizationMember(UUIDModel):
    organization = ForeignKeyField(Organization, on_delete="CASCADE", backref="memberships")
    user = ForeignKeyField(User, on_delete="CASCADE", backref="memberships")
    org_roles = CharField(max_length=255, default="")  # comma separated, member implied
    roles_updated_at = DateTimeField(default=utcnow)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("organization", "user"), True),)

    @property
    def roles(self) -> list[str]:
        stored = [role for role in self.org_roles.split(",") if role]
        return [r for r in ORGANIZATION_ROLES if r in stored or r == "organization-member"]

    @roles.setter
    def roles(self, roles) -> None:
        wanted = set(roles)
        self.org_roles = ",".join(
            r for r in ORGANIZATION_ROLES if r in wanted and r != "organization-member"
        )
