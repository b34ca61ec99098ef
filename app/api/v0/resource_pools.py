"""Resource pools (Coder classic's workspace providers): /api/private/resource-pools."""

import marshmallow as ma
from flask import current_app, request
from flask.views import MethodView
from marshmallow import validate

from app import auth
from app.api.fields import Text, Timestamp
from app.api.schemas import Schema
from app.api.smorest import Blueprint
from app.services import resource_pool_admin, resource_pools

blp = Blueprint(
    "v0_resource_pools",
    __name__,
    url_prefix="/api/private/resource-pools",
    description=(
        "Where workspaces run (the classic CLI's workspace providers). Each pool is one "
        "container engine (the Docker Engine API, which Podman serves too); the built-in one "
        "is CODER_DOCKER_HOST. Everyone lists the pools they may create workspaces in; site "
        "admins add, edit, cordon and delete them (403 for others, 404 for pools they may not "
        "see). The list's key is `kubernetes` whatever the engine: it is the classic client's "
        "shape. Engine TLS material is write-only."
    ),
    tag="Resource pools",
)


class ResourcePoolConfigSchema(Schema):
    cluster_address = ma.fields.String(
        metadata={"description": "the engine's API address (site admins; empty for others)"}
    )
    default_namespace = ma.fields.String()
    storage_class = ma.fields.String()
    cluster_domain_suffix = ma.fields.String()
    ssh_enabled = ma.fields.Boolean(metadata={"description": "the SSH gateway runs"})


class ResourcePoolSchema(Schema):
    id = ma.fields.String()
    name = ma.fields.String()
    status = ma.fields.String(
        metadata={
            "description": "`ready` or `unreachable` as the last health check found the engine; "
            "`pending` before any check or without an engine"
        }
    )
    built_in = ma.fields.Boolean()
    type = ma.fields.String(metadata={"description": "`docker`"})
    hostname = ma.fields.String(
        metadata={"description": "where clients reach this pool (empty: the access URL)"}
    )
    cordoned = ma.fields.Boolean(metadata={"description": "no new workspace is placed on it"})
    cordon_reason = ma.fields.String()
    status_error = ma.fields.String(
        metadata={"description": "why the engine was unreachable (site admins; empty for others)"}
    )
    last_checked_at = Timestamp(allow_none=True)
    tls = ma.fields.Boolean(metadata={"description": "the engine is reached with TLS material"})
    envproxy_access_url = ma.fields.String(
        metadata={"description": "where clients reach `/proxy/...`; SSH uses its host"}
    )
    devurl_host = ma.fields.String(metadata={"description": "dev URLs' wildcard host"})
    org_whitelist = ma.fields.List(
        ma.fields.String(), metadata={"description": "organization ids; empty: every one"}
    )
    enable_net_v2 = ma.fields.Boolean()
    config = ma.fields.Nested(ResourcePoolConfigSchema)


class ResourcePoolsSchema(Schema):
    kubernetes = ma.fields.List(ma.fields.Nested(ResourcePoolSchema))


_ADDRESS = (
    "the engine: unix:///path.sock, tcp://host:port or ssh://[user@]host[:port]; checked "
    "against CODER_RESOURCE_POOL_ALLOWED_HOSTS (a host not listed must be public; a unix "
    "socket must be listed)"
)
_TLS = "PEM; write-only, stored encrypted; empty removes it. For tcp:// engines."


class ResourcePoolWriteSchema(Schema):
    """Every field optional on an edit; null or absent means unchanged."""

    name = Text(validate=validate.Length(min=1, max=64), allow_none=True)
    type = Text(metadata={"description": "`docker`"}, allow_none=True)
    hostname = Text(
        validate=validate.Length(max=1024),
        allow_none=True,
        metadata={"description": "http(s) URL where clients reach pycoderd for this pool"},
    )
    cluster_address = Text(
        validate=validate.Length(max=1024),
        allow_none=True,
        metadata={"description": _ADDRESS},
    )
    org_whitelist = ma.fields.List(
        Text(validate=validate.Length(max=64)),
        allow_none=True,
        validate=validate.Length(max=1000),
        metadata={"description": "organization ids; empty: every organization"},
    )
    tls_ca_cert = Text(load_only=True, allow_none=True, metadata={"description": _TLS})
    tls_client_cert = Text(load_only=True, allow_none=True, metadata={"description": _TLS})
    tls_client_key = Text(load_only=True, allow_none=True, metadata={"description": _TLS})


class ResourcePoolCreateSchema(ResourcePoolWriteSchema):
    """The classic client's CreateWorkspaceProviderReq, with `type: "docker"`."""

    name = Text(required=True, validate=validate.Length(min=1, max=64))
    type = Text(required=True, metadata={"description": "`docker`"})
    cluster_address = Text(
        required=True, validate=validate.Length(max=1024), metadata={"description": _ADDRESS}
    )


class CordonSchema(Schema):
    reason = Text(load_default="", validate=validate.Length(max=1024))


def _deployment() -> resource_pools.Deployment:
    return resource_pools.deployment_of(current_app.config["SETTINGS"], request.url_root)


def _shown(pool) -> dict:
    return resource_pools.for_api(pool, _deployment(), auth.current_user())


def _access() -> resource_pool_admin.Access:
    return resource_pool_admin.access(current_app.config)


@blp.route("")
class ResourcePools(MethodView):
    @blp.login_required
    @blp.response(200, ResourcePoolsSchema)
    def get(self):
        """List the resource pools you may create workspaces in"""
        viewer = auth.current_user()
        deployment = _deployment()
        pools = resource_pools.list_visible(viewer)
        return {"kubernetes": [resource_pools.for_api(p, deployment, viewer) for p in pools]}

    @blp.login_required
    @blp.arguments(ResourcePoolCreateSchema)
    @blp.response(201, ResourcePoolSchema)
    @blp.error_responses(400, 403, 409)
    def post(self, body):
        """Add a resource pool: a container engine (site admins)"""
        return _shown(resource_pool_admin.create(auth.caller(), _access(), body))


@blp.route("/<string:pool_id>")
class ResourcePoolById(MethodView):
    @blp.login_required
    @blp.response(200, ResourcePoolSchema)
    @blp.error_responses(404)
    def get(self, pool_id):
        """Get a resource pool"""
        viewer = auth.current_user()
        pool = resource_pools.get_visible(viewer, pool_id)
        return resource_pools.for_api(pool, _deployment(), viewer)

    @blp.login_required
    @blp.arguments(ResourcePoolWriteSchema)
    @blp.response(200, ResourcePoolSchema)
    @blp.error_responses(400, 403, 404, 409)
    def patch(self, body, pool_id):
        """Edit a resource pool: name, hostname, engine, organizations (site admins)"""
        return _shown(resource_pool_admin.update(auth.caller(), _access(), pool_id, body))

    @blp.login_required
    @blp.response(204)
    @blp.error_responses(403, 404, 409)
    def delete(self, pool_id):
        """Delete a resource pool without workspaces (site admins)"""
        resource_pool_admin.delete(auth.caller(), pool_id)


@blp.route("/<string:pool_id>/cordon")
class Cordon(MethodView):
    @blp.login_required
    @blp.arguments(CordonSchema)
    @blp.response(200, ResourcePoolSchema)
    @blp.error_responses(400, 403, 404)
    def post(self, body, pool_id):
        """Cordon a resource pool: no new workspace is placed on it (site admins)"""
        pool = resource_pool_admin.set_cordon(auth.caller(), pool_id, True, body["reason"])
        return _shown(pool)


@blp.route("/<string:pool_id>/uncordon")
class Uncordon(MethodView):
    @blp.login_required
    @blp.response(200, ResourcePoolSchema)
    @blp.error_responses(403, 404)
    def post(self, pool_id):
        """Uncordon a resource pool (site admins)"""
        return _shown(resource_pool_admin.set_cordon(auth.caller(), pool_id, False))
