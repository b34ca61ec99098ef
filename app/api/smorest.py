"""Project subclasses of flask-smorest and webargs: 400 on bad input, JSON bodies, login."""

from __future__ import annotations

import functools
import json

import flask_smorest
import marshmallow as ma
from webargs import core
from webargs.flaskparser import FlaskParser

from app import auth, errors

SECURITY = [{"CoderSessionToken": []}]
SECURITY_SCHEMES = {
    "CoderSessionToken": {"type": "apiKey", "in": "header", "name": "Coder-Session-Token"},
    "SessionToken": {"type": "apiKey", "in": "header", "name": "Session-Token"},
    "SessionCookie": {"type": "apiKey", "in": "cookie", "name": "coder_session_token"},
}


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
        return json.loads(data)

    def _handle_invalid_json_error(self, error, req, *args, **kwargs):
        raise errors.InvalidJSON(detail=str(error))


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = Parser()

    def login_required(self, func):
        """Authenticate before the view runs; documents the security scheme and the 401."""

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            auth.current_user()
            return func(*args, **kwargs)

        wrapper = self.doc(security=SECURITY)(wrapper)
        return self.alt_response(401, response="UNAUTHORIZED")(wrapper)


class ErrorV0DetailSchema(ma.Schema):
    msg = ma.fields.String(metadata={"description": "What went wrong, for people"})
    code = ma.fields.String(metadata={"description": "What went wrong, for programs"})
    details = ma.fields.Raw(
        allow_none=True, metadata={"description": "More, e.g. the offending fields"}
    )


class ErrorV0Schema(ma.Schema):
    error = ma.fields.Nested(ErrorV0DetailSchema)


class ValidationEntrySchema(ma.Schema):
    field = ma.fields.String()
    detail = ma.fields.String()


class ErrorV2Schema(ma.Schema):
    message = ma.fields.String()
    detail = ma.fields.String()
    validations = ma.fields.List(ma.fields.Nested(ValidationEntrySchema))


class ApiV0(flask_smorest.Api):
    ERROR_SCHEMA = ErrorV0Schema


class ApiV2(flask_smorest.Api):
    ERROR_SCHEMA = ErrorV2Schema
