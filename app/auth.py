"""The request's caller: reading the session token, authenticating, and the Caller for services."""

from __future__ import annotations

from flask import current_app, g, request

from app.services import api_keys
from app.services.context import Caller

SESSION_COOKIE = "coder_session_token"
SESSION_QUERY = "coder_session_token"
SESSION_HEADERS = ("Coder-Session-Token", "Session-Token")


def presented_token() -> str:
    """The first non-empty of: cookie, query parameter, Coder-Session-Token, Session-Token."""
    for value in (
        request.cookies.get(SESSION_COOKIE),
        request.args.get(SESSION_QUERY),
        *(request.headers.get(name) for name in SESSION_HEADERS),
    ):
        if value and value.strip():
            return value.strip()
    return ""


def current_user():
    """The authenticated user, authenticating on first use; raises Unauthorized (401)."""
    if "user" not in g:
        key = api_keys.authenticate(presented_token())
        settings = current_app.config["SETTINGS"]
        api_keys.touch(
            key,
            ip=request.remote_addr or "",
            refresh_expiry=not settings["disable_session_expiry_refresh"],
        )
        g.api_key = key
        g.user = key.user
    return g.user


def optional_user():
    """The authenticated user, or None when no token was presented."""
    if not presented_token():
        return None
    return current_user()


def caller() -> Caller:
    """Who is acting, for the services (user may be None on anonymous routes)."""
    return Caller(
        user=g.get("user"),
        ip=request.remote_addr or "",
        user_agent=request.headers.get("User-Agent", ""),
        request_id=g.get("request_id", ""),
    )
