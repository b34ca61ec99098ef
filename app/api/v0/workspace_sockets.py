"""The classic CLI's WebSockets on workspaces: wsep (run a command) and watch-update (builds)."""

from flask import current_app, request
from flask.views import MethodView

from app import auth, websocket_server
from app.api.smorest import Blueprint
from app.api.v0 import workspaces_schemas as schemas
from app.exec import watch, wsep
from app.services import workspace_exec, workspaces

_LOG_SCHEMA = schemas.BuildLogSchema()
_WEBSOCKET_ERRORS = (400, 426, 501, 503)

wsep_blp = Blueprint(
    "v0_wsep",
    __name__,
    url_prefix="/proxy/workspaces",
    description=(
        "Command execution in a workspace: the wsep protocol over a WebSocket "
        "(github.com/cdr/wsep), as `coder sync` and other classic CLI commands speak it."
    ),
)
watch_blp = Blueprint(
    "v0_watch_update",
    __name__,
    url_prefix="/api/private/workspaces",
    description="Build watching: the latest build's log over a WebSocket (the classic CLI).",
)


@wsep_blp.route("/<string:workspace_id>/wsep", websocket=True)
class Wsep(MethodView):
    @wsep_blp.login_required
    @wsep_blp.doc(
        responses={
            "101": {
                "description": "WebSocket (binary frames of at most 64,000 bytes, each a JSON "
                'header, optionally `\\n` and raw bytes). Client: `{"type":"start","command":'
                '{"command","args","stdin","tty","uid","gid","env","working_dir"}}` first, then '
                '`{"type":"stdin"}\\n<bytes>`, `{"type":"close_stdin"}`, `{"type":"resize",'
                '"rows","cols"}`. Server: `{"type":"pid","pid":N}` first, then '
                '`{"type":"stdout"}\\n<bytes>` and `{"type":"stderr"}\\n<bytes>`, last '
                '`{"type":"exit_code","exit_code":N}`, then close 1000. One command per '
                "connection; the owner's own workspace only, and it must be ON (else 409). "
                "Each session is audited (`connect`). Served by `pycoderd server` only (501 "
                "elsewhere)."
            }
        }
    )
    @wsep_blp.error_responses(404, 409, *_WEBSOCKET_ERRORS)
    def get(self, workspace_id):
        """Run a command in your workspace (wsep over WebSocket)"""
        caller = auth.caller()
        target = workspace_exec.target(caller, workspace_id)
        settings = current_app.config["SETTINGS"]
        session = wsep.Session(
            target,
            workspace_exec.engine_opener(target, settings, current_app.config["SECRET_KEY"]),
            idle=settings["pycoderd.websocket_idle_timeout"] / 1e9,
        )
        takeover = websocket_server.accept(request, session, max_size=wsep.MAX_MESSAGE)
        try:
            workspace_exec.record_connect(caller, target)
        except BaseException:
            takeover.close()
            raise
        return takeover


@watch_blp.route("/<string:workspace_id>/watch-update", websocket=True)
class WatchUpdate(MethodView):
    @watch_blp.login_required
    @watch_blp.doc(
        responses={
            "101": {
                "description": "WebSocket: one text message per build log line (a BuildLog "
                "object), the latest build's log from its start; closes (1000) after the "
                "`done` line, with 1011 and the reason after a build that failed. Served by "
                "`pycoderd server` only (501 elsewhere)."
            }
        }
    )
    @watch_blp.error_responses(404, *_WEBSOCKET_ERRORS)
    def get(self, workspace_id):
        """Watch the latest build of a workspace (WebSocket)"""
        lines = workspaces.follow_build_logs(auth.current_user(), workspace_id)
        handler = watch.Watch(lines, _LOG_SCHEMA.dump)
        return websocket_server.accept(request, handler, max_size=4096)
