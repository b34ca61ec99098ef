"""v0 wire shapes of images, tags, registries, and the workspaces images embed."""

from __future__ import annotations

import json

import marshmallow as ma
from marshmallow import validate

from app.api.fields import Integer, Text, Timestamp
from app.api.schemas import Schema
from app.api.v0.workspaces_schemas import WorkspaceSchema


class RegistrySchema(Schema):
    id = ma.fields.String()
    organization_id = ma.fields.String()
    friendly_name = ma.fields.String()
    registry = ma.fields.String(metadata={"description": "host[:port]"})
    created_at = Timestamp()
    updated_at = Timestamp()


class OSReleaseSchema(Schema):
    id = ma.fields.String()
    pretty_name = ma.fields.String()
    home_url = ma.fields.String()


class ImageTagSchema(Schema):
    image_id = ma.fields.String()
    tag = ma.fields.String()
    latest_hash = ma.fields.String(metadata={"description": "Manifest digest"})
    hash_last_updated_at = Timestamp(allow_none=True)
    os_release = ma.fields.Function(
        lambda tag: json.loads(tag.os_release) if tag.os_release else None,
        allow_none=True,
        metadata={"description": "OSRelease {id, pretty_name, home_url}, or null"},
    )
    workspaces = ma.fields.List(
        ma.fields.Nested(WorkspaceSchema), attribute="workspace_rows", allow_none=True
    )
    created_at = Timestamp()
    updated_at = Timestamp()


class ImageSchema(Schema):
    id = ma.fields.String()
    organization_id = ma.fields.String()
    repository = ma.fields.String()
    description = ma.fields.String()
    url = ma.fields.String()
    registry = ma.fields.Nested(RegistrySchema, attribute="registry_row")
    default_tag = ma.fields.Nested(ImageTagSchema, attribute="default_tag_row", allow_none=True)
    default_cpu_cores = ma.fields.Float()
    default_memory_gb = ma.fields.Float()
    default_disk_gb = Integer()
    deprecated = ma.fields.Boolean()
    created_at = Timestamp()
    updated_at = Timestamp()
    workspaces = ma.fields.List(
        ma.fields.Nested(WorkspaceSchema),
        attribute="workspace_rows",
        metadata={"description": "Absent when workspaces=false"},
    )

    @ma.post_dump(pass_original=True)
    def _drop_workspaces(self, data, original, **kwargs):
        if getattr(original, "workspace_rows", None) is None:
            data.pop("workspaces", None)
        return data


class ImageQueryArgsSchema(Schema):
    org = Text(metadata={"description": "Organization id (`default` allowed)"})
    workspaces = ma.fields.Boolean(
        load_default=True, metadata={"description": "Embed the workspaces built from each image"}
    )


class ImageGetArgsSchema(Schema):
    workspaces = ma.fields.Boolean(load_default=True)


class NewRegistrySchema(Schema):
    friendly_name = Text(validate=validate.Length(max=255))
    registry = Text(required=True, validate=validate.Length(min=1, max=255))
    username = Text(validate=validate.Length(max=255), allow_none=True)
    password = Text(load_only=True, validate=validate.Length(max=1024), allow_none=True)


CPU = validate.Range(min=0, max=1024)
MEMORY = validate.Range(min=0, max=65536)
DISK = validate.Range(min=0, max=1_000_000)


class ImageCreateSchema(Schema):
    """Exactly one of `registry_id` and `new_registry`; null (as the classic SDK sends the unused
    one) or an empty `registry_id` means not given."""

    registry_id = Text(
        validate=validate.Length(max=36),
        allow_none=True,
        metadata={"description": "An existing registry of the organization; or null"},
    )
    new_registry = ma.fields.Nested(
        NewRegistrySchema,
        allow_none=True,
        metadata={"description": "A registry to add with the image; or null"},
    )
    repository = Text(required=True, validate=validate.Length(min=1, max=255))
    org_id = Text(load_default="default", validate=validate.Length(max=36))
    tag = Text(load_default="latest", validate=validate.Length(min=1, max=128))
    default_cpu_cores = ma.fields.Float(validate=CPU, allow_none=True)
    default_memory_gb = ma.fields.Float(validate=MEMORY, allow_none=True)
    default_disk_gb = Integer(validate=DISK, allow_none=True)
    description = Text(validate=validate.Length(max=4096), allow_none=True)
    url = Text(validate=validate.Length(max=1024), allow_none=True)

    @ma.validates_schema
    def _one_registry(self, data, **kwargs):
        if bool(data.get("registry_id")) == (data.get("new_registry") is not None):
            raise ma.ValidationError(
                "exactly one of registry_id and new_registry must be set (null means not set)",
                "registry_id",
            )

    @ma.post_load
    def _drop_unset(self, data, **kwargs):
        if not data.get("registry_id"):
            data.pop("registry_id", None)
        if data.get("new_registry") is None:
            data.pop("new_registry", None)
        return data


class ImageUpdateSchema(Schema):
    """Every field optional; null or absent means unchanged."""

    description = Text(validate=validate.Length(max=4096), allow_none=True)
    url = Text(validate=validate.Length(max=1024), allow_none=True)
    default_cpu_cores = ma.fields.Float(validate=CPU, allow_none=True)
    default_memory_gb = ma.fields.Float(validate=MEMORY, allow_none=True)
    default_disk_gb = Integer(validate=DISK, allow_none=True)
    deprecated = ma.fields.Boolean(allow_none=True)
    default_tag = Text(validate=validate.Length(min=1, max=128), allow_none=True)


class RefreshSchema(Schema):
    """No fields: the seed sends `{}`."""


class TagCreateSchema(Schema):
    tag = Text(required=True, validate=validate.Length(min=1, max=128))


class RegistryQueryArgsSchema(Schema):
    org = Text(metadata={"description": "Organization id (`default` allowed)"})


class RegistryUpdateSchema(Schema):
    """Every field optional; null or absent means unchanged. Credentials are write-only."""

    friendly_name = Text(validate=validate.Length(min=1, max=255), allow_none=True)
    registry = Text(validate=validate.Length(min=1, max=255), allow_none=True)
    username = Text(validate=validate.Length(max=255), allow_none=True)
    password = Text(load_only=True, validate=validate.Length(max=1024), allow_none=True)
