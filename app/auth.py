"""The request's caller: reading the session token, authenticating, and the Caller for services."""

from __future__ import annotations

from flask import after_this_request, current_app, g, request

from app import csrf, rbac
from app.services import api_keys, sessions, ssh_keys, users
from app.services.context import Caller

SESSION_COOKIE = "coder_session_token"
SESSION_QUERY = "coder_session_token"
SESSION_HEADERS = ("Coder-Session-Token", "Session-Token")


_HEADER_KEYS = tuple("HTTP_" + name.upper().replace("-", "_") for name in SESSION_HEADERS)


def presented_token() -> str:
    """The first non-empty of: cookie, query parameter, Coder-Session-Token, Session-Token."""
    environ = request.environ
    for value in (
        request.cookies.get(SESSION_COOKIE) if "HTTP_COOKIE" in environ else None,
        request.args.get(SESSION_QUERY) if environ.get("QUERY_STRING") else None,
        # request.headers reads these WSGI keys (without raising inside for a missing one)
        *(environ.get(key) for key in _HEADER_KEYS),
    ):
        if value and value.strip():
            return value.strip()
    return ""


def _cookie_token() -> str:
    """The session cookie's token, which (being read first) is what authenticates when set."""
    if "HTTP_COOKIE" not in request.environ:
        return ""
    return (request.cookies.get(SESSION_COOKIE) or "").strip()


def current_user():
    """The authenticated user, authenticating on first use; raises Unauthorized (401).

    Deleted or suspended users are refused here, on every request, not only at login; an
    unsafe request carrying the session cookie must first pass the CSRF check (app.csrf); a
    token's scope must reach the route (rbac.require_scope: 403).
    """
    if "user" not in g:
        if _cookie_token():
            csrf.check()
        key = api_keys.authenticate(presented_token())
        rbac.require_scope(key.scope, request.endpoint)
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
        key_id=g.api_key.id if "api_key" in g else "",
    )


def require_user(*, temporary_password_ok: bool = False):
    """Authenticate; a user with a temporary password may only reach the routes that allow it."""
    user = current_user()
    if not temporary_password_ok:
        users.refuse_temporary_password(user)
    return user


def password_login(email: str, password: str) -> api_keys.NewKey:
    """The password login (app.services.sessions) with this request's caller and settings."""
    return sessions.login(
        caller(),
        email=email,
        password=password,
        lifetimes=lifetimes(),
        password_auth_disabled=current_app.config["SETTINGS"]["disable_password_auth"],
    )


def lifetimes() -> api_keys.Lifetimes:
    settings = current_app.config["SETTINGS"]
    return api_keys.Lifetimes(
        session_seconds=settings["max_session_expiry"] // 1_000_000_000,
        max_token_ns=settings["max_token_lifetime"],
        refresh=not settings["disable_session_expiry_refresh"],
    )


def keygen() -> ssh_keys.Keygen:
    return ssh_keys.Keygen(
        algorithm=current_app.config["SETTINGS"]["ssh_keygen_algorithm"] or "ed25519",
        secret_key=current_app.config["SECRET_KEY"],
    )


def set_session_cookie(response, token: str, max_age: int) -> None:
    """HttpOnly, SameSite=Lax; Secure when configured or when the request came over https
    (as the trusted-proxy fix tells `request.is_secure`)."""
    secure = bool(current_app.config["SETTINGS"]["secure_auth_cookie"]) or request.is_secure
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="Lax",
        secure=secure,
    )


def clear_session_cookie(response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="Lax")


def issue_session_cookie(token: str, max_age: int) -> None:
    """Send the session cookie with this request's response."""

    @after_this_request
    def _set(response):
        set_session_cookie(response, token, max_age)
        return response


def end_session_cookie() -> None:
    @after_this_request
    def _clear(response):
        clear_session_cookie(response)
        return response


def current_key():
    """The API key this request authenticated with."""
    current_user()
    return g.api_key
