"""Resource pools (Coder classic's workspace providers): /api/private/resource-pools."""

import marshmallow as ma
from flask import current_app, request
from flask.views import MethodView

from app import auth
from app.api.schemas import Schema
from app.api.smorest import Blueprint
from app.services import resource_pools

blp = Blueprint(
    "v0_resource_pools",
    __name__,
    url_prefix="/api/private/resource-pools",
    description=(
        "Where workspaces run (the classic CLI's workspace providers). pycoderd has one pool, "
        "the built-in one: the container engine it is configured with. The list's key is "
        "`kubernetes` whatever the engine: it is the classic client's shape."
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
    status = ma.fields.String(metadata={"description": "`ready`, or `pending` without an engine"})
    built_in = ma.fields.Boolean()
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


def _deployment() -> resource_pools.Deployment:
    return resource_pools.deployment_of(current_app.config["SETTINGS"], request.url_root)


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
