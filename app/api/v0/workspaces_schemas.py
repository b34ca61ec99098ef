"""Wire shapes of v0 workspaces (also embedded by images and used by dev URLs)."""

import marshmallow as ma

from app.api.fields import Integer, Text, Timestamp
from app.api.schemas import Schema
from app.api.v0.schemas import ListArgsSchema


class WorkspaceStatSchema(Schema):
    time = Timestamp(allow_none=True)
    last_online = Timestamp(allow_none=True)
    container_status = ma.fields.String(
        metadata={"enum": ["CREATING", "OFF", "ON", "FAILED", "UNKNOWN"]}
    )
    stat_error = ma.fields.String()
    cpu_usage = ma.fields.Float(metadata={"description": "CPU cores in use"})
    memory_total = Integer(metadata={"description": "bytes"})
    memory_usage = Integer(metadata={"description": "bytes"})
    disk_total = Integer(metadata={"description": "bytes"})
    disk_used = Integer(metadata={"description": "bytes"})


class RebuildMessageSchema(Schema):
    text = ma.fields.String()
    required = ma.fields.Boolean()
    auto_off_threshold = ma.fields.Boolean()


class WorkspaceSchema(Schema):
    """Dump `app.services.workspaces.for_api(...)` results with this schema."""

    id = ma.fields.String()
    name = ma.fields.String()
    image_id = ma.fields.String()
    image_tag = ma.fields.String()
    organization_id = ma.fields.String()
    user_id = ma.fields.String()
    last_built_at = Timestamp(allow_none=True)
    cpu_cores = ma.fields.Float()
    memory_gb = ma.fields.Float()
    disk_gb = Integer()
    gpus = Integer()
    updating = ma.fields.Boolean(metadata={"description": "a build is queued or running"})
    latest_stat = ma.fields.Nested(WorkspaceStatSchema)
    rebuild_messages = ma.fields.List(ma.fields.Nested(RebuildMessageSchema))
    created_at = Timestamp()
    updated_at = Timestamp()
    last_opened_at = Timestamp(allow_none=True)
    last_connection_at = Timestamp(allow_none=True)
    auto_off_threshold = Integer(metadata={"description": "milliseconds"})
    use_container_vm = ma.fields.Boolean()
    resource_pool_id = ma.fields.String()


# Bounds keep every value inside its column (PostgreSQL `real`/`integer`) and sane.
CPU = ma.validate.Range(min=0, max=1024)
MEMORY = ma.validate.Range(min=0, max=16384)
DISK = ma.validate.Range(min=0, max=1_000_000)
GPUS = ma.validate.Range(min=0, max=64)
THRESHOLD = ma.validate.Range(min=0, max=10 * 365 * 86400 * 1000)


class WorkspaceCreateSchema(Schema):
    name = Text(required=True)
    image_id = Text(required=True)
    org_id = Text(
        load_default=None, metadata={"description": "defaults to the image's organization"}
    )
    image_tag = Text(
        load_default=None, metadata={"description": "defaults to the image's default tag"}
    )
    cpu_cores = ma.fields.Float(
        load_default=0, validate=CPU, metadata={"description": "0: the image's default"}
    )
    memory_gb = ma.fields.Float(
        load_default=0, validate=MEMORY, metadata={"description": "0: the image's default"}
    )
    disk_gb = Integer(
        load_default=0, validate=DISK, metadata={"description": "0: the image's default"}
    )
    gpus = Integer(load_default=0, validate=GPUS)
    for_user_id = Text(load_default=None, metadata={"description": "site managers and admins only"})
    resource_pool_id = Text(
        load_default=None,
        metadata={"description": "GET /api/private/resource-pools; defaults to the built-in pool"},
    )
    namespace = Text(
        load_default=None,
        metadata={"description": "the pool's `config.default_namespace` (or empty)"},
    )


class WorkspaceUpdateSchema(Schema):
    """Every field optional; null or absent means unchanged; `{}` rebuilds as is."""

    image_id = Text(allow_none=True)
    image_tag = Text(allow_none=True)
    cpu_cores = ma.fields.Float(allow_none=True, validate=CPU)
    memory_gb = ma.fields.Float(allow_none=True, validate=MEMORY)
    disk_gb = Integer(allow_none=True, validate=DISK)
    gpus = Integer(allow_none=True, validate=GPUS)


class WorkspaceQueryArgsSchema(ListArgsSchema):
    users = ma.fields.List(
        Text(),
        load_default=list,
        metadata={"description": "owners: ids, usernames or me (comma separated or repeated)"},
    )
    orgs = ma.fields.List(
        Text(),
        load_default=list,
        metadata={"description": "organization ids or default (comma separated or repeated)"},
    )


class BuildLogSchema(Schema):
    id = ma.fields.String()
    workspace_id = ma.fields.String()
    build_id = ma.fields.String()
    time = Timestamp()
    type = ma.fields.String(metadata={"enum": ["start", "stage", "error", "substage", "done"]})
    msg = ma.fields.String()


class BuildLogQueryArgsSchema(Schema):
    follow = ma.fields.Boolean(
        load_default=False,
        metadata={"description": "stream NDJSON lines until the build ends"},
    )


class WorkspacesConfigSchema(Schema):
    auto_off_threshold = Integer(
        allow_none=True,
        validate=THRESHOLD,
        metadata={"description": "milliseconds; the default for new workspaces, 0 = never"},
    )
    max_cpu_cores = ma.fields.Float(
        allow_none=True, validate=CPU, metadata={"description": "0: no cap"}
    )
    max_memory_gb = ma.fields.Float(
        allow_none=True, validate=MEMORY, metadata={"description": "0: no cap"}
    )
    max_disk_gb = Integer(allow_none=True, validate=DISK, metadata={"description": "0: no cap"})
    gpu_vendor = Text(
        allow_none=True,
        metadata={
            "enum": ["", "nvidia", "amd"],
            "description": (
                "The GPU kind of the deployment's machines, as the classic SDK knows it; stored "
                "and reported only (pycoderd's engine attaches no GPU to a workspace). Other "
                "values are a 400"
            ),
        },
    )
    enable_container_vms = ma.fields.Boolean(
        allow_none=True,
        metadata={
            "description": "Always false: `true` is a 400 (plain containers, no container VMs)"
        },
    )
    enable_workspaces_as_code = ma.fields.Boolean(
        allow_none=True,
        metadata={"description": "Always false: `true` is a 400 (no workspace templates)"},
    )
    enable_p2p = ma.fields.Boolean(
        allow_none=True,
        metadata={"description": "Always false: `true` is a 400 (no peer-to-peer networking)"},
    )
    updated_at = Timestamp(dump_only=True)
