"""The general Coder API, /api/v2: one blueprint module per resource."""

from app.api.v2 import buildinfo, csp, deployment, experiments, root, tokens, updatecheck, users

DESCRIPTION = """The general Coder API (v2).

Authenticate with the `Coder-Session-Token` header, the `coder_session_token` cookie or
query parameter. Errors are `{"message", "detail"?, "validations"?}`. Durations are integer
nanoseconds; times are RFC 3339 in UTC. `{user}` is a UUID, a username or `me`.
"""

BLUEPRINTS = (
    root.blp,
    buildinfo.blp,
    csp.blp,
    deployment.blp,
    experiments.blp,
    updatecheck.blp,
    users.blp,
    tokens.blp,
)


def register(api) -> None:
    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint)
