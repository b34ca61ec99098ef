"""Project subclasses of flask-smorest and webargs: 400 on bad input, JSON bodies, login."""

from __future__ import annotations

import functools
import http
import json

import flask_smorest
import marshmallow as ma
from webargs import core
from webargs.flaskparser import FlaskParser

from app import auth, errors
from app.api.schemas import Schema

SECURITY = [{"CoderSessionToken": []}]
SECURITY_SCHEMES = {
    "CoderSessionToken": {"type": "apiKey", "in": "header", "name": "Coder-Session-Token"},
    "SessionToken": {"type": "apiKey", "in": "header", "name": "Session-Token"},
    "SessionCookie": {"type": "apiKey", "in": "cookie", "name": "coder_session_token"},
}


def _has_nul(value) -> bool:
    """Does a JSON value hold a NUL character anywhere (PostgreSQL text cannot store one)?"""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


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
        loaded = json.loads(data)
        if _has_nul(loaded):
            raise errors.BadRequest("Request body must not contain NUL characters.")
        return loaded

    def load_querystring(self, req, schema):
        if any("\x00" in key + value for key, value in req.args.items(multi=True)):
            raise errors.BadRequest("Query parameters must not contain NUL characters.")
        return super().load_querystring(req, schema)

    def _handle_invalid_json_error(self, error, req, *args, **kwargs):
        raise errors.InvalidJSON(detail=str(error))


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = Parser()

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

        wrapper = self.doc(security=SECURITY)(wrapper)
        wrapper = self.alt_response(403, response="FORBIDDEN")(wrapper)
        return self.alt_response(401, response="UNAUTHORIZED")(wrapper)

    def error_responses(self, *statuses):
        """Document the error statuses a view may answer (each in the version's envelope)."""

        def decorator(func):
            for status in statuses:
                func = self.alt_response(status, response=http.HTTPStatus(status).name)(func)
            return func

        return decorator


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


class ApiV0(flask_smorest.Api):
    ERROR_SCHEMA = ErrorV0Schema


class ApiV2(flask_smorest.Api):
    ERROR_SCHEMA = ErrorV2Schema
