"""Users: identity, credentials, site roles and SSH keys."""

from peewee import BooleanField, CharField, TextField

from app.models.base import DateTimeField, TimestampedModel

SITE_ROLES = ("site-admin", "site-manager", "site-auditor", "site-member")


class User(TimestampedModel):
    username = CharField(max_length=39)
    username_key = CharField(max_length=39, unique=True)  # lower-cased: unique case-insensitively
    email = CharField(max_length=320, unique=True)  # stored lower-cased
    name = CharField(max_length=255, default="")
    password_hash = CharField(max_length=255, default="")
    login_type = CharField(max_length=16, default="built-in")  # built-in | saml | oidc | none
    temporary_password = BooleanField(default=False)
    status = CharField(max_length=16, default="active")  # active | suspended
    site_roles = CharField(max_length=255, default="")  # comma separated, site-member implied
    avatar_url = CharField(max_length=1024, default="")
    ssh_key_algorithm = CharField(max_length=16, default="")
    ssh_public_key = TextField(default="")
    ssh_private_key_encrypted = TextField(default="")
    key_regenerated_at = DateTimeField(null=True)
    last_seen_at = DateTimeField(null=True)

    @property
    def roles(self) -> list[str]:
        return roles_from_stored(self.site_roles)

    @roles.setter
    def roles(self, roles) -> None:
        self.site_roles = ",".join(r for r in SITE_ROLES if r in set(roles) and r != "site-member")

    @property
    def is_active(self) -> bool:
        return self.status == "active"


def roles_from_stored(site_roles: str) -> list[str]:
    """The site roles a stored `site_roles` column grants, in SITE_ROLES order."""
    stored = site_roles.split(",")
    return [role for role in SITE_ROLES if role in stored or role == "site-member"]
