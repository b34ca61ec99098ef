"""The classic Coder API, /api/v0: one blueprint module per resource."""

from app.api.v0 import (
    api_keys,
    audit,
    auth_basic,
    devurls,
    images,
    metrics,
    organizations,
    registries,
    resource_pools,
    root,
    users,
    workspace_sockets,
    workspaces,
)

DESCRIPTION = """The classic Coder API (v0).

Authenticate with the `Session-Token` header (or `Coder-Session-Token`, the
`coder_session_token` cookie or query parameter). Request bodies are read as JSON whatever
the `Content-Type` says. Errors are `{"error": {"msg", "code", "details"}}`; validation
failures answer 400 and list the offending fields in `details`. In `PATCH` bodies a `null`
or absent field means "unchanged". `me` is accepted wherever a user id is.
"""

BLUEPRINTS = (
    root.blp,
    auth_basic.blp,
    users.blp,
    api_keys.blp,
    organizations.blp,
    workspaces.blp,
    workspaces.environments_blp,
    resource_pools.blp,
    workspace_sockets.wsep_blp,
    workspace_sockets.watch_blp,
    devurls.blp,
    images.blp,
    registries.blp,
    audit.blp,
    metrics.blp,
    metrics.usage_blp,
)


def register(api) -> None:
    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint)
