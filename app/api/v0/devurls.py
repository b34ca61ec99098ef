"""v0 dev URLs of a workspace (also under the old /environments paths), and sign-in tickets."""

import marshmallow as ma
from flask import current_app, g, redirect
from flask.views import MethodView

from app import auth
from app.api.fields import Integer
from app.api.schemas import Schema
from app.api.smorest import Blueprint
from app.devurls import hosts
from app.models.devurls import ACCESS_LEVELS
from app.services import devurls

blp = Blueprint(
    "v0_devurls",
    __name__,
    url_prefix="/api/v0",
    tag="Dev URLs",
    description=(
        "Dev URLs: a workspace port at its own host name under the wildcard access URL, "
        "`<name>--<username>.<suffix>` or `<port>--<workspace>-<username>.<suffix>`. "
        "`/environments/{id}/devurls` is an alias of `/workspaces/{id}/devurls`."
    ),
)

_NAME = {
    "description": "Letters, digits, `-` and `_`, starting with a letter; empty for none",
    "pattern": "^([a-zA-Z]([a-zA-Z0-9_-]{0,41}[a-zA-Z0-9])?)?$",
}


def _valid_name(value):
    if value and not hosts.NAME_RE.match(value):
        raise ma.ValidationError(
            "must start with a letter, end with a letter or digit, and hold at most 43 "
            "letters, digits, - or _"
        )


class DevURLSchema(Schema):
    id = ma.fields.String(dump_only=True)
    url = ma.fields.Method("_url", dump_only=True, metadata={"description": "Empty w/o wildcard"})
    port = Integer()
    access = ma.fields.String(metadata={"enum": list(ACCESS_LEVELS)})
    name = ma.fields.String(allow_none=True)
    scheme = ma.fields.String(metadata={"enum": list(devurls.SCHEMES)})

    def _url(self, devurl):
        return devurls.url(devurl, hosts.Wildcard.from_settings(current_app.config["SETTINGS"]))


class _DevURLBodySchema(Schema):
    workspace_id = ma.fields.String(
        load_only=True, allow_none=True, metadata={"description": "Ignored: the path wins"}
    )
    environment_id = ma.fields.String(
        load_only=True, allow_none=True, metadata={"description": "Ignored: the path wins"}
    )
    name = ma.fields.String(allow_none=True, validate=_valid_name, metadata=_NAME)


class DevURLCreateSchema(_DevURLBodySchema):
    port = Integer(required=True, validate=ma.validate.Range(1, 65535))
    access = ma.fields.String(load_default="PRIVATE", validate=ma.validate.OneOf(ACCESS_LEVELS))
    scheme = ma.fields.String(load_default="http", validate=ma.validate.OneOf(devurls.SCHEMES))


class DevURLUpdateSchema(_DevURLBodySchema):
    name = ma.fields.String(
        allow_none=True,
        validate=_valid_name,
        metadata={
            **_NAME,
            "description": (
                "Letters, digits, `-` and `_`, starting with a letter. Empty or null keeps the "
                "current name (the classic CLI sends an empty name when it updates a port); "
                "to drop a name, delete the dev URL and create it again without one"
            ),
        },
    )
    port = Integer(allow_none=True, validate=ma.validate.Range(1, 65535))
    access = ma.fields.String(allow_none=True, validate=ma.validate.OneOf(ACCESS_LEVELS))
    scheme = ma.fields.String(allow_none=True, validate=ma.validate.OneOf(devurls.SCHEMES))


class EmptyBodySchema(Schema):
    """DELETE carries `{}` (or nothing); whatever it holds is ignored."""


class TicketQueryArgsSchema(Schema):
    url = ma.fields.String(
        required=True,
        metadata={"description": "The dev URL to open, e.g. https://app--alice.apps.example.com/"},
    )


def _fields(data: dict) -> dict:
    return {k: v for k, v in data.items() if k not in ("workspace_id", "environment_id")}


@blp.route("/workspaces/<string:workspace_id>/devurls")
class DevURLs(MethodView):
    @blp.login_required
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.response(200, DevURLSchema(many=True))
    def get(self, workspace_id):
        """List a workspace's dev URLs"""
        return devurls.list_for(auth.current_user(), workspace_id)

    @blp.login_required
    @blp.arguments(DevURLCreateSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    @blp.response(201, DevURLSchema)
    def post(self, data, workspace_id):
        """Create a dev URL"""
        return devurls.create(auth.caller(), workspace_id, **_fields(data))


@blp.route("/workspaces/<string:workspace_id>/devurls/<string:devurl_id>")
class DevURLById(MethodView):
    @blp.login_required
    @blp.arguments(DevURLUpdateSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    @blp.response(200, DevURLSchema)
    def put(self, data, workspace_id, devurl_id):
        """Update a dev URL (absent or null fields, and an empty name, are unchanged)"""
        return devurls.update(auth.caller(), workspace_id, devurl_id, **_fields(data))

    @blp.login_required
    @blp.arguments(EmptyBodySchema, required=False)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.response(204)
    def delete(self, _data, workspace_id, devurl_id):
        """Delete a dev URL"""
        devurls.delete(auth.caller(), workspace_id, devurl_id)


@blp.route("/environments/<string:workspace_id>/devurls")
class EnvironmentDevURLs(DevURLs):
    """The old name of /workspaces/{id}/devurls."""


@blp.route("/environments/<string:workspace_id>/devurls/<string:devurl_id>")
class EnvironmentDevURLById(DevURLById):
    """The old name of /workspaces/{id}/devurls/{devurl_id}."""


@blp.route("/devurls/ticket")
class DevURLTicket(MethodView):
    @blp.login_required
    @blp.arguments(TicketQueryArgsSchema, location="query")
    @blp.response(
        302,
        description="Redirect to the dev URL host, which trades the ticket (opaque, single use, "
        "valid for 60 s) for its `coder_devurl_session_token` cookie and sends the browser on "
        "to `url`'s path (or `/` when that path could lead off the host)",
        headers={"Location": {"schema": {"type": "string"}}},
    )
    def get(self, args):
        """Sign in to a dev URL host: redirect there with a ticket"""
        location = devurls.ticket_redirect(
            auth.current_user(),
            g.api_key.id,
            args["url"],
            hosts.Wildcard.from_settings(current_app.config["SETTINGS"]),
        )
        return redirect(location, 302)
