"""Registries, images imported from them, and their tags."""

from peewee import (
    BooleanField,
    CharField,
    FloatField,
    ForeignKeyField,
    IntegerField,
    TextField,
)

from app.models.base import DateTimeField, TimestampedModel
from app.models.organizations import Organization


class Registry(TimestampedModel):
    organization = ForeignKeyField(Organization, on_delete="CASCADE", backref="registries")
    friendly_name = CharField(max_length=255)
    registry = CharField(max_length=255)  # host[:port]
    username = CharField(max_length=255, default="")
    password_encrypted = TextField(default="")  # app.crypto, never returned

    class Meta:
        indexes = ((("organization", "registry", "username"), False),)


class Image(TimestampedModel):
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


class ImageTag(TimestampedModel):
    image = ForeignKeyField(Image, on_delete="CASCADE", backref="tags")
    tag = CharField(max_length=128)
    latest_hash = CharField(max_length=128, default="")  # manifest digest
    hash_last_updated_at = DateTimeField(null=True)
    os_release = TextField(null=True)  # JSON {"id", "pretty_name", "home_url"} or NULL

    class Meta:
        indexes = ((("image", "tag"), True),)
