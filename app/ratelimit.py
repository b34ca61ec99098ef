"""Rate limits on both API versions (flask-limiter), keyed by client IP and path as Coder does.

`rate_limit.api` requests per minute per client IP and path (0: no API limit), and 60 per minute
on the login path on top of it; `rate_limit.disable_all` turns both off. Counters live in
`pycoderd.rate_limit_storage_url`: `memory://` is per process, `redis://…` is shared by every
worker and instance pointing at it, so they all spend one budget.
"""

from __future__ import annotations

import logging

from apispec import BasePlugin
from flask import request
from flask_limiter import ApplicationLimit, Limiter

from app import options

log = logging.getLogger("pycoderd.ratelimit")

WINDOW_SECONDS = 60
LOGIN_LIMIT = 60
# Login paths get their own, stricter budget (identity's views stay undecorated), one budget
# per client for all of them: a second path is no second budget for guessing passwords.
LOGIN_PATHS = frozenset({"/api/v2/users/login", "/auth/basic/login", "/internal-auth"})
API_PREFIXES = ("/api/v0/", "/api/v2/", "/api/")
KEY_PREFIX = "pycoderd"


def message(limit: int) -> str:
    window = options.format_duration(WINDOW_SECONDS * 1_000_000_000)
    return f"You've been rate limited for sending more than {limit} requests in {window}."


def _client_and_path() -> str:
    return f"{request.remote_addr or ''}|{request.path}"


def _client_logging_in() -> str:
    return f"{request.remote_addr or ''}|login"


def _exempt_from_api_limit() -> bool:
    # CORS preflights are answered before the limiter, as in Coder.
    if request.method == "OPTIONS":
        return True
    return not (request.path == "/api" or request.path.startswith(API_PREFIXES))


def _exempt_from_login_limit() -> bool:
    return request.method == "OPTIONS" or request.path not in LOGIN_PATHS


def _retry_after_only_on_429(response):
    if response.status_code != 429:
        response.headers.pop("Retry-After", None)
    return response


def _per_minute(amount: int, scope: str, exempt, key=_client_and_path) -> ApplicationLimit:
    return ApplicationLimit(
        f"{amount} per minute",
        key_function=key,
        scope=scope,
        exempt_when=exempt,
        error_message=message(amount),
    )


def init_app(app) -> Limiter | None:
    """Install the limiter; None when every rate limit is disabled."""
    settings = app.config["SETTINGS"]
    if settings["rate_limit.disable_all"]:
        return None
    api_limit = settings["rate_limit.api"]
    limits = [_per_minute(LOGIN_LIMIT, "login", _exempt_from_login_limit, _client_logging_in)]
    if api_limit > 0:
        limits.append(_per_minute(api_limit, "api", _exempt_from_api_limit))
    limiter = Limiter(
        key_func=_client_and_path,
        application_limits=limits,
        # Every path counts, including ones no route serves (Coder limits its whole router).
        request_identifier=lambda: request.path,
        storage_uri=settings["pycoderd.rate_limit_storage_url"],
        strategy="moving-window",
        headers_enabled=True,
        retry_after="delta-seconds",
        key_prefix=KEY_PREFIX,
        # A storage outage lets requests through (logged) rather than failing them all.
        swallow_errors=True,
    )
    # after_request hooks run last-registered first: this one sees the limiter's headers.
    app.after_request(_retry_after_only_on_429)
    limiter.init_app(app)
    return limiter


class OpenAPIPlugin(BasePlugin):
    """Documents the 429 that every API operation may answer while rate limits are on."""

    def operation_helper(self, path=None, operations=None, **kwargs):
        for operation in (operations or {}).values():
            operation.setdefault("responses", {}).setdefault("429", "TOO_MANY_REQUESTS")
