"""API keys and login sessions (one table, as Coder keeps them)."""

from peewee import BigIntegerField, BooleanField, CharField, ForeignKeyField

from app.models.base import BaseModel, DateTimeField, utcnow
from app.models.users import User


class APIKey(BaseModel):
    id = CharField(primary_key=True, max_length=10)
    user = ForeignKeyField(User, on_delete="CASCADE", backref="api_keys")
    hashed_secret = CharField(max_length=64)  # hex SHA-256 of the secret
    login_type = CharField(max_length=16, default="password")  # password | token
    scope = CharField(max_length=32, default="all")  # all | application_connect
    token_name = CharField(max_length=255, null=True)  # named tokens only
    application = BooleanField(default=False)  # the v0 flag
    lifetime_seconds = BigIntegerField()
    expires_at = DateTimeField()
    last_used = DateTimeField(default=utcnow)
    ip_address = CharField(max_length=64, default="")
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("user", "token_name"), True),)

    @property
    def used_at(self):
        """When the key was last used; None while it never was (last_used = created_at then)."""
        return None if self.last_used == self.created_at else self.last_used
