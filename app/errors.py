"""One error vocabulary, and the one place that renders it in each API version's envelope."""

from __future__ import annotations

import logging

from flask import jsonify, request
from gunicorn.http.errors import ParseException
from werkzeug.exceptions import HTTPException
from werkzeug.routing import WebsocketMismatch

log = logging.getLogger("pycoderd.errors")

SIGNED_OUT = "You are signed out or your session has expired. Please sign in again to continue."
NOT_FOUND_V2 = "Resource not found or you do not have access to this resource"


class APIError(Exception):
    """A failure a client can be told about; services raise these, views never catch them."""

    status = 500
    code = "internal"
    message = "An internal server error occurred."

    def __init__(self, message=None, *, detail="", validations=None, headers=None):
        super().__init__(message or self.message)
        self.message = message or self.message
        self.detail = detail
        self.validations = validations or []  # [(field, detail)]
        self.headers = headers or {}


class BadRequest(APIError):
    status, code, message = 400, "bad_request", "Bad request."


class InvalidJSON(BadRequest):
    message = "Request body must be valid JSON."


class ValidationFailed(BadRequest):
    message = "Validation failed."


class Unauthorized(APIError):
    status, code, message = 401, "unauthorized", SIGNED_OUT


class Forbidden(APIError):
    status, code, message = 403, "forbidden", "Forbidden."


class NotFound(APIError):
    status, code, message = 404, "not_found", NOT_FOUND_V2


class RouteNotFound(NotFound):
    message = "Route not found."


class MethodNotAllowed(APIError):
    status, code, message = 405, "method_not_allowed", "Method not allowed."


class Conflict(APIError):
    status, code, message = 409, "conflict", "Conflict."


class PreconditionFailed(APIError):
    status, code, message = 412, "precondition", "Precondition failed."


class UpgradeRequired(APIError):
    status, code, message = 426, "upgrade_required", "This route speaks WebSocket only."


class PayloadTooLarge(APIError):
    status, code, message = 413, "payload_too_large", "Request body is too large."


class RateLimited(APIError):
    status, code, message = 429, "rate_limited", "Too many requests."


class NotImplementedHere(APIError):
    status, code, message = 501, "not_implemented", "This server cannot do that."


class BadGateway(APIError):
    status, code, message = 502, "bad_gateway", "The upstream did not answer."


class GatewayTimeout(APIError):
    status, code, message = 504, "gateway_timeout", "The upstream did not answer in time."


class Unavailable(APIError):
    status, code, message = 503, "unavailable", "The service is temporarily unavailable."


def validation_entries(messages, prefix="") -> list[tuple[str, str]]:
    """Flatten marshmallow/webargs messages ({"json": {"name": ["..."]}}) into (field, detail)."""
    entries = []
    if isinstance(messages, dict):
        for key, value in messages.items():
            if key in ("json", "query", "querystring", "view_args", "path", "headers", "form"):
                entries.extend(validation_entries(value, prefix))
                continue
            name = f"{prefix}.{key}" if prefix else str(key)
            if key == "_schema":
                name = prefix or "body"
            entries.extend(validation_entries(value, name))
    elif isinstance(messages, list | tuple):
        if all(isinstance(item, str) for item in messages):
            entries.append((prefix or "body", " ".join(messages)))
        else:
            for item in messages:
                entries.extend(validation_entries(item, prefix))
    else:
        entries.append((prefix or "body", str(messages)))
    return entries


def from_http_exception(exc: HTTPException) -> APIError:
    """Translate werkzeug/flask-smorest/webargs/flask-limiter exceptions into the vocabulary."""
    data = getattr(exc, "data", None) or {}
    if exc.code in (400, 422) and "messages" in data:
        return ValidationFailed(validations=validation_entries(data["messages"]))
    if exc.code == 404:
        return RouteNotFound()
    if exc.code == 405:
        return MethodNotAllowed(
            headers={"Allow": ", ".join(getattr(exc, "valid_methods", []) or [])}
        )
    if exc.code == 413:
        return PayloadTooLarge()
    if exc.code == 429:
        return RateLimited(getattr(exc, "description", None) or RateLimited.message)
    if isinstance(exc, WebsocketMismatch):
        if _upgrading():
            return BadRequest("This route does not speak WebSocket.")
        return UpgradeRequired(
            detail="Open it with a WebSocket client.", headers={"Upgrade": "websocket"}
        )
    if exc.code == 400:
        return BadRequest(data.get("message") or "Bad request.")
    error = APIError(getattr(exc, "description", None) or exc.name)
    error.status = exc.code or 500
    error.code = (exc.name or "error").lower().replace(" ", "_")
    return error


def _upgrading() -> bool:
    """Is this request a WebSocket opening handshake?"""
    return request.headers.get("Upgrade", "").strip().lower() == "websocket"


def api_version(path: str) -> str:
    return "v2" if path == "/api/v2" or path.startswith("/api/v2/") else "v0"


def body_v0(error: APIError) -> dict:
    details = None
    if error.validations:
        details = [{"field": field, "detail": detail} for field, detail in error.validations]
    elif error.detail:
        details = error.detail
    message = error.message
    if isinstance(error, NotFound) and not isinstance(error, RouteNotFound):
        message = "The resource was not found or you do not have access to it."
    return {"error": {"msg": message, "code": error.code, "details": details}}


def body_v2(error: APIError) -> dict:
    body = {"message": error.message}
    if error.detail:
        body["detail"] = error.detail
    if error.validations:
        body["validations"] = [{"field": f, "detail": d} for f, d in error.validations]
    return body


def envelope(error: APIError, path: str) -> dict:
    """The error's body in the envelope of the API version `path` belongs to."""
    return body_v2(error) if api_version(path) == "v2" else body_v0(error)


def render(error: APIError):
    response = jsonify(envelope(error, request.path))
    response.status_code = error.status
    for name, value in error.headers.items():
        if value:
            response.headers[name] = value
    return response


def handle_exception(exc: Exception):
    """The app's single error handler: every error leaves through here."""
    if isinstance(exc, APIError):
        error = exc
    elif isinstance(exc, HTTPException):
        error = from_http_exception(exc)
        if exc.code == 429 and exc.response is not None:
            for name in ("Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining"):
                if name in exc.response.headers:
                    error.headers[name] = exc.response.headers[name]
    else:
        error = unexpected(exc)
        if error.status == 500:
            log.exception("unhandled error on %s %s", request.method, request.path)
    return render(error)


def unexpected(exc: Exception) -> APIError:
    """What to answer for an exception nobody raised on purpose: 503 or 500."""
    if _is_database_unavailable(exc):
        log.error("database unavailable: %s", exc)
        return Unavailable("The database is unavailable. Try again shortly.")
    if _is_bad_framing(exc):
        return BadRequest("The request body is badly framed.", detail=str(exc))
    if _is_unique_violation(exc):
        # Services check names first; two requests racing past the check meet the unique
        # index, and the later one is told what it would have been told a moment later.
        log.info("unique index refused a write: %s", exc)
        return Conflict(
            "Another request took that name (or email) first.",
            detail="Choose another, or retry to see what holds it.",
        )
    return APIError()


# SQLite errors that mean "busy or unreachable now", not "this request is wrong".
_SQLITE_UNAVAILABLE = ("database is locked", "unable to open database", "disk i/o error")


def _is_database_unavailable(exc: Exception) -> bool:
    """A database that cannot be reached or is busy right now: 503, not 500.

    peewee wraps the driver's exception (it is the first argument). psycopg2 raises
    OperationalError for connection failures, shutdown and restart (SQLSTATE classes 08, 57),
    exhausted resources (53) and lock timeouts; InterfaceError for a connection already closed.
    """
    from peewee import InterfaceError, OperationalError

    if isinstance(exc, InterfaceError):
        return True
    if not isinstance(exc, OperationalError):
        return False
    if any(type(cause).__module__.startswith("psycopg2") for cause in _causes(exc)):
        return True
    return any(marker in str(exc).lower() for marker in _SQLITE_UNAVAILABLE)


def _is_bad_framing(exc: Exception) -> bool:
    """gunicorn found the body's framing broken (a bad chunk size, a missing terminator) while
    the app read it: the client's fault."""
    return isinstance(exc, ParseException)


def _is_unique_violation(exc: Exception) -> bool:
    """A unique index refused the write (SQLite's message, PostgreSQL's SQLSTATE 23505)."""
    from peewee import IntegrityError

    if not isinstance(exc, IntegrityError):
        return False
    for cause in _causes(exc):
        if getattr(cause, "pgcode", None) == "23505":
            return True
        if str(cause).startswith("UNIQUE constraint failed"):
            return True
    return False


def _causes(exc: BaseException, depth: int = 6):
    """The chain of wrapped exceptions (peewee may wrap its own wrapper of the driver's)."""
    while exc is not None and depth:
        yield exc
        wrapped = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else None
        exc, depth = wrapped or exc.__cause__ or exc.__context__, depth - 1


def init_app(app) -> None:
    """Register the dispatcher after every Api, so it replaces their handlers."""
    app.register_error_handler(HTTPException, handle_exception)
    app.register_error_handler(APIError, handle_exception)
    app.register_error_handler(Exception, handle_exception)
