"""GET /api/v2/deployment/{config,ssh,stats}: the deployment's settings and health."""

import marshmallow as ma
from flask import current_app
from flask.views import MethodView

from app import auth, options, rbac
from app.api.fields import Integer, Timestamp
from app.api.schemas import Schema
from app.api.smorest import Blueprint
from app.services import deployment

blp = Blueprint("v2_deployment", __name__, url_prefix="/api/v2/deployment", description="General")

_JSON_TYPES = {
    "string": {"type": "string"},
    "bool": {"type": "boolean"},
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "duration": {"type": "integer", "description": "nanoseconds"},
    "url": {"type": "string"},
    "host:port": {"type": "string"},
    "string-array": {"type": "array", "items": {"type": "string"}},
    "struct": {"nullable": True},
}


def _config_json_schema() -> dict:
    """The DeploymentValues tree as a JSON schema, from the option registry."""
    root: dict = {"type": "object", "properties": {}}
    for option in options.all_options():
        *parents, leaf = option.key.split(".")
        node = root
        for name in parents:
            node = node["properties"].setdefault(name, {"type": "object", "properties": {}})
        node["properties"][leaf] = dict(_JSON_TYPES[option.type])
    return root


_GROUP_JSON_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "yaml": {"type": "string"},
        "description": {"type": "string"},
        "parent": {"type": "object"},
    },
}


class OptionSchema(Schema):
    name = ma.fields.String()
    description = ma.fields.String()
    flag = ma.fields.String()
    flag_shorthand = ma.fields.String()
    env = ma.fields.String()
    yaml = ma.fields.String()
    default = ma.fields.String()
    value = ma.fields.Raw(
        allow_none=True,
        metadata={"description": 'The value in the config\'s wire format; secrets are ""'},
    )
    annotations = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String())
    group = ma.fields.Raw(metadata=_GROUP_JSON_SCHEMA)
    use_instead = ma.fields.List(ma.fields.Raw(metadata={"type": "object"}))
    hidden = ma.fields.Boolean()
    value_source = ma.fields.String(
        metadata={
            "enum": ["default", "yaml", "env", "flag"],
            "description": "Where the value came from (values given to the app factory: flag)",
        }
    )


class DeploymentConfigSchema(Schema):
    config = ma.fields.Raw(metadata=_config_json_schema())
    options = ma.fields.List(ma.fields.Nested(OptionSchema))


class SSHConfigSchema(Schema):
    hostname_prefix = ma.fields.String()
    ssh_config_options = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String())


class LatencySchema(Schema):
    P50 = ma.fields.Float(metadata={"description": "Median, ms (-1: no data)"})
    P95 = ma.fields.Float(metadata={"description": "95th percentile, ms (-1: no data)"})


class WorkspaceStatsSchema(Schema):
    pending = Integer()
    building = Integer()
    running = Integer()
    failed = Integer()
    stopped = Integer()
    connection_latency_ms = ma.fields.Nested(LatencySchema)
    rx_bytes = Integer()
    tx_bytes = Integer()


class SessionCountSchema(Schema):
    vscode = Integer()
    ssh = Integer()
    jetbrains = Integer()
    reconnecting_pty = Integer()


class DeploymentStatsSchema(Schema):
    aggregated_from = Timestamp(metadata={"description": "Start of the traffic window"})
    collected_at = Timestamp()
    next_update_at = Timestamp()
    session_count = ma.fields.Nested(SessionCountSchema)
    workspaces = ma.fields.Nested(WorkspaceStatsSchema)


@blp.route("/config")
class DeploymentConfig(MethodView):
    @blp.login_required
    @blp.response(200, DeploymentConfigSchema)
    @blp.alt_response(403, response="FORBIDDEN")
    def get(self):
        """Get deployment config"""
        rbac.require(auth.current_user(), "deployment:read")
        return deployment.config(current_app.config["SETTINGS"])


@blp.route("/ssh")
class SSHConfig(MethodView):
    @blp.login_required
    @blp.response(200, SSHConfigSchema)
    def get(self):
        """SSH Config"""
        return deployment.ssh_config(current_app.config["SETTINGS"])


@blp.route("/stats")
class DeploymentStats(MethodView):
    @blp.login_required
    @blp.response(200, DeploymentStatsSchema)
    @blp.alt_response(403, response="FORBIDDEN")
    def get(self):
        """Get deployment stats

        Computed once per agent_stat_refresh_interval for the whole deployment by the server's
        background process and stored, so every worker answers the same; computed on demand
        when none are stored or they are overdue (no background process running).
        """
        rbac.require(auth.current_user(), "deployment_stats:read")
        return deployment.latest_stats(
            current_app.config["SETTINGS"]["agent_stat_refresh_interval"]
        )
