"""Project subclasses of flask-smorest and webargs: 400 on bad input, JSON bodies, login."""

from __future__ import annotations

import functools
import http

import flask
import flask_smorest
import marshmallow as ma
from webargs import core
from webargs.flaskparser import FlaskParser

from app import auth, errors
from app.api import json_body
from app.api.schemas import Schema

# Every route accepts a token from any of these (app/auth.py); an operation lists them as
# alternatives, so whichever one Swagger UI's "Authorize" was given is sent. Each version
# offers its own header first: v0 clients send Session-Token, v2 clients Coder-Session-Token.
_SCHEMES = {
    "SessionToken": {"type": "apiKey", "in": "header", "name": "Session-Token"},
    "CoderSessionToken": {"type": "apiKey", "in": "header", "name": "Coder-Session-Token"},
    "SessionCookie": {"type": "apiKey", "in": "cookie", "name": "coder_session_token"},
}
_ORDER = {
    "v0": ("SessionToken", "CoderSessionToken", "SessionCookie"),
    "v2": ("CoderSessionToken", "SessionToken", "SessionCookie"),
}
SECURITY_SCHEMES = {version: {n: _SCHEMES[n] for n in names} for version, names in _ORDER.items()}
SECURITY = {version: [{name: []} for name in names] for version, names in _ORDER.items()}


class Parser(FlaskParser):
    """Coder answers 400 to bad input, and reads JSON bodies whatever the Content-Type says."""

    DEFAULT_VALIDATION_STATUS = 400
    DEFAULT_UNKNOWN_BY_LOCATION = {
        **FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION,
        "json": ma.EXCLUDE,
        "query": ma.EXCLUDE,
    }

    def _raw_load_json(self, req):
        data = req.get_data(cache=True)
        if not data.strip():
            return core.missing
        return json_body.loads(data)

    def load_querystring(self, req, schema):
        if any("\x00" in key + value for key, value in req.args.items(multi=True)):
            raise errors.BadRequest("Query parameters must not contain NUL characters.")
        return super().load_querystring(req, schema)

    def _handle_invalid_json_error(self, error, req, *args, **kwargs):
        raise errors.InvalidJSON(detail=str(error))


class Blueprint(flask_smorest.Blueprint):
    """Its name stays unique in the app ("v0_users"); its `tag` groups its operations in the
    documents and reads as words ("Users": several blueprints may share one). Without one, the
    description is the tag (the v2 blueprints use Coder's tag names as descriptions)."""

    ARGUMENTS_PARSER = Parser()

    def __init__(self, name, import_name, *args, tag: str | None = None, **kwargs):
        super().__init__(name, import_name, *args, **kwargs)
        self.tag = tag or kwargs.get("description") or name

    @property
    def api_version(self) -> str:
        return "v2" if (self.url_prefix or "").startswith("/api/v2") else "v0"

    def arguments(self, schema, *args, **kwargs):
        """flask-smorest's, given a schema instance made once: webargs makes one from a class on
        every request, and a schema's construction copies its fields (a third of a short
        request's parsing)."""
        if isinstance(schema, type):
            schema = schema()
        return super().arguments(schema, *args, **kwargs)

    def doc(self, *args, **kwargs):
        return _documenting_only(super().doc(*args, **kwargs))

    def alt_response(self, *args, **kwargs):
        return _documenting_only(super().alt_response(*args, **kwargs))

    def add_url_rule(self, rule, endpoint=None, view_func=None, *args, tags=None, **options):
        tags = tags if tags is not None else [self.tag]
        super().add_url_rule(rule, endpoint, view_func, *args, tags=tags, **options)

    def login_required(self, func=None, *, temporary_password_ok=False):
        """Authenticate before the view runs; documents the security scheme, the 401 and the
        403 a user still holding a temporary password gets (unless `temporary_password_ok`)."""
        if func is None:
            return functools.partial(
                self.login_required, temporary_password_ok=temporary_password_ok
            )

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            auth.require_user(temporary_password_ok=temporary_password_ok)
            return func(*args, **kwargs)

        wrapper = self.doc(security=SECURITY[self.api_version])(wrapper)
        wrapper = self.alt_response(403, response="FORBIDDEN")(wrapper)
        return self.alt_response(401, response="UNAUTHORIZED")(wrapper)

    @staticmethod
    def no_store(func):
        """The response carries a secret (a new key or token, a private key): `Cache-Control:
        no-store`, so no browser or proxy cache keeps it."""

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            @flask.after_this_request
            def _no_store(response):
                response.headers["Cache-Control"] = "no-store"
                return response

            return func(*args, **kwargs)

        return wrapper

    def error_responses(self, *statuses):
        """Document the error statuses a view may answer (each in the version's envelope)."""

        def decorator(func):
            for status in statuses:
                func = self.alt_response(status, response=http.HTTPStatus(status).name)(func)
            return func

        return decorator


def _documenting_only(decorator):
    """flask-smorest's `doc` and `alt_response` decorators add to the view's documentation
    (`_apidoc`) and wrap it in a function that only calls it: here the view keeps the
    documentation and is not wrapped (every request went through one more call per documented
    error status)."""

    def apply(func):
        func._apidoc = decorator(func)._apidoc
        return func

    return apply


class ErrorV0DetailSchema(Schema):
    msg = ma.fields.String(metadata={"description": "What went wrong, for people"})
    code = ma.fields.String(metadata={"description": "What went wrong, for programs"})
    details = ma.fields.Raw(
        allow_none=True, metadata={"description": "More, e.g. the offending fields"}
    )


class ErrorV0Schema(Schema):
    error = ma.fields.Nested(ErrorV0DetailSchema)


class ValidationEntrySchema(Schema):
    field = ma.fields.String()
    detail = ma.fields.String()


class ErrorV2Schema(Schema):
    message = ma.fields.String()
    detail = ma.fields.String()
    validations = ma.fields.List(ma.fields.Nested(ValidationEntrySchema))


class _Api(flask_smorest.Api):
    def register_blueprint(self, blp, *, parameters=None, **options):
        """flask-smorest's, listing the blueprint's tag once per document instead of one tag
        per blueprint name."""
        name = options.get("name", blp.name)
        self._app.extensions["flask-smorest"]["blp_name_to_api"][name] = self
        self._app.register_blueprint(blp, **options)
        blp.register_views_in_doc(self, self._app, self.spec, name=name, parameters=parameters)
        tags = self.__dict__.setdefault("_tag_names", set())
        tag = getattr(blp, "tag", name)
        if tag not in tags:
            tags.add(tag)
            description = blp.description if blp.description != tag else None
            self.spec.tag({"name": tag, **({"description": description} if description else {})})


class ApiV0(_Api):
    ERROR_SCHEMA = ErrorV0Schema


class ApiV2(_Api):
    ERROR_SCHEMA = ErrorV2Schema
