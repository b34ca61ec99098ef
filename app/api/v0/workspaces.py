"""v0 workspaces, and the same routes under their old name, /environments."""

import json

from flask import Response
from flask.views import MethodView

from app import auth
from app.api import streaming
from app.api.smorest import Blueprint
from app.api.v0 import workspaces_schemas as schemas
from app.services import workspaces

NDJSON = "application/x-ndjson"
_LOG_SCHEMA = schemas.BuildLogSchema()
_LOG_REF = {"$ref": "#/components/schemas/BuildLog"}
_LISTED = schemas.WorkspaceSchema()  # made once: a schema's construction copies its fields


def _ndjson(lines) -> Response:
    body = (json.dumps(_LOG_SCHEMA.dump(line)) + "\n" for line in lines)
    return Response(body, mimetype=NDJSON, headers={"Cache-Control": "no-cache"})


def _blueprint(name: str, prefix: str, description: str) -> Blueprint:
    """Every workspace route under one prefix; called once per name, so views exist twice."""
    blp = Blueprint(
        name,
        __name__,
        url_prefix=f"/api/v0/{prefix}",
        description=description,
        tag=prefix.capitalize(),
    )

    @blp.route("")
    class Workspaces(MethodView):
        @blp.login_required
        @blp.arguments(schemas.WorkspaceQueryArgsSchema, location="query")
        @blp.response(200, schemas.WorkspaceSchema(many=True))
        def get(self, args):
            """List workspaces (members see their own)"""
            pages = workspaces.list_visible(auth.current_user(), **args)
            return streaming.json_list(_LISTED, pages)

        @blp.login_required
        @blp.arguments(schemas.WorkspaceCreateSchema)
        @blp.response(201, schemas.WorkspaceSchema)
        @blp.alt_response(403, response="FORBIDDEN")
        @blp.alt_response(409, response="CONFLICT")
        def post(self, body):
            """Create a workspace and start building it"""
            workspace = workspaces.create(auth.caller(), **body)
            return workspaces.one_for_api(workspace)

    @blp.route("/config")
    class WorkspacesConfig(MethodView):
        @blp.login_required
        @blp.response(200, schemas.WorkspacesConfigSchema)
        def get(self):
            """Get the deployment's workspace settings"""
            return workspaces.config_for_api(workspaces.config())

        @blp.login_required
        @blp.arguments(schemas.WorkspacesConfigSchema)
        @blp.response(200, schemas.WorkspacesConfigSchema)
        @blp.alt_response(403, response="FORBIDDEN")
        def put(self, body):
            """Change the deployment's workspace settings (site managers; absent or null fields
            are unchanged)"""
            return workspaces.update_config(auth.caller(), body)

    @blp.route("/<string:workspace_id>")
    class WorkspaceById(MethodView):
        @blp.login_required
        @blp.response(200, schemas.WorkspaceSchema)
        @blp.alt_response(404, response="NOT_FOUND")
        def get(self, workspace_id):
            """Get a workspace"""
            workspace = workspaces.get_visible(auth.current_user(), workspace_id)
            return workspaces.one_for_api(workspace)

        @blp.login_required
        @blp.arguments(schemas.WorkspaceUpdateSchema)
        @blp.response(200, schemas.WorkspaceSchema)
        @blp.alt_response(403, response="FORBIDDEN")
        @blp.alt_response(404, response="NOT_FOUND")
        def patch(self, body, workspace_id):
            """Apply changes and rebuild (`{}` rebuilds as is)"""
            workspace = workspaces.rebuild(auth.caller(), workspace_id, body)
            return workspaces.one_for_api(workspace)

        @blp.login_required
        @blp.response(204)
        @blp.alt_response(403, response="FORBIDDEN")
        @blp.alt_response(404, response="NOT_FOUND")
        def delete(self, workspace_id):
            """Delete a workspace, its container and its home volume"""
            workspaces.delete(auth.caller(), workspace_id)

    @blp.route("/<string:workspace_id>/stop")
    class WorkspaceStop(MethodView):
        @blp.login_required
        @blp.response(200, schemas.WorkspaceSchema)
        @blp.alt_response(403, response="FORBIDDEN")
        @blp.alt_response(404, response="NOT_FOUND")
        def put(self, workspace_id):
            """Stop a workspace"""
            workspace = workspaces.stop(auth.caller(), workspace_id)
            return workspaces.one_for_api(workspace)

    @blp.route("/<string:workspace_id>/builds/latest/logs")
    class LatestBuildLogs(MethodView):
        @blp.login_required
        @blp.arguments(schemas.BuildLogQueryArgsSchema, location="query")
        @blp.response(200, schemas.BuildLogSchema(many=True))
        @blp.doc(
            responses={
                "200": {
                    "description": "A JSON array, or with follow=true one JSON line per "
                    "log line until the build ends",
                    "content": {
                        "application/json": {"schema": {"type": "array", "items": _LOG_REF}},
                        NDJSON: {"schema": _LOG_REF},
                    },
                }
            }
        )
        @blp.alt_response(404, response="NOT_FOUND")
        def get(self, args, workspace_id):
            """Log lines of the latest build"""
            user = auth.current_user()
            if args["follow"]:
                return _ndjson(workspaces.follow_build_logs(user, workspace_id))
            return workspaces.latest_build_logs(user, workspace_id)

    return blp


blp = _blueprint("v0_workspaces", "workspaces", "Workspaces: containers built from images")
environments_blp = _blueprint(
    "v0_environments", "environments", "Environments: the old name of workspaces (aliases)"
)
