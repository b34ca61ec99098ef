"""The page `coder login URL` sends people to: /internal-auth?show_token=true.

Signed out (no valid session cookie), it asks for email and password; signed in, it offers to
create an API key. Either way the answer shows a new API key (a v0 key named `coder-login-…`,
living as long as tokens may) to paste back into the CLI. The page is HTML of its own, with no
script and no external asset; it is never cached, never framed, and its address goes to no
other site (Referrer-Policy).

Both forms post to the page itself. Every POST must come from this deployment's own origin (the
README's "Security model"): the signed-in one because the session cookie authenticates it, the
sign-in one so that no other site can sign a browser in as someone else. The sign-in is the
password login of `POST /api/v2/users/login` (same checks, rate limit and audit). Errors are
shown on the page, not in an API envelope: this module renders what the services raise.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import secrets

import marshmallow as ma
from flask import Blueprint, Response, request
from markupsafe import escape

from app import auth, csrf, errors
from app.api.fields import Text
from app.api.schemas import Schema
from app.services import api_keys

PATH = "/internal-auth"

STYLE = """
body { font: 16px/1.5 system-ui, sans-serif; max-width: 36rem; margin: 4rem auto; padding: 0 1rem;
  color: #1b1f23; }
h1 { font-size: 1.4rem; }
label { display: block; margin-top: 1rem; }
input { font: inherit; width: 100%; box-sizing: border-box; padding: .4rem; }
button { font: inherit; margin-top: 1.2rem; padding: .4rem 1.2rem; }
.error { color: #b00020; }
.token { font-family: ui-monospace, monospace; background: #f3f4f6; }
"""
_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
HEADERS = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Content-Security-Policy": (
        f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    # Not no-referrer: with it, browsers send `Origin: null` with the page's own form posts.
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}

blueprint = Blueprint("internal_auth", __name__)


class SignInFormSchema(Schema):
    email = Text(required=True, validate=ma.validate.Length(min=1, max=320))
    password = Text(required=True, validate=ma.validate.Length(min=1, max=1024))


def _page(title: str, body: str, status: int = 200) -> Response:
    html = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)} · pycoderd</title>\n<style>{STYLE}</style>\n</head>\n"
        f"<body>\n<h1>{escape(title)}</h1>\n{body}\n</body>\n</html>\n"
    )
    return Response(html, status=status, mimetype="text/html", headers=HEADERS)


def _action() -> str:
    return f"{PATH}?show_token=true"


def _sign_in(message: str = "", email: str = "", status: int = 200) -> Response:
    error = f'<p class="error" role="alert">{escape(message)}</p>\n' if message else ""
    return _page(
        "Sign in to get an API key",
        f"{error}<p>Sign in with your email and password; the next page shows an API key for "
        "the <code>coder</code> command-line client.</p>\n"
        f'<form method="post" action="{_action()}">\n'
        f'<label>Email <input type="email" name="email" value="{escape(email)}" '
        'autocomplete="username" required autofocus></label>\n'
        '<label>Password <input type="password" name="password" '
        'autocomplete="current-password" required></label>\n'
        '<button type="submit">Sign in</button>\n</form>',
        status,
    )


def _offer(user) -> Response:
    return _page(
        "Create an API key",
        f"<p>Signed in as <strong>{escape(user.username)}</strong>. Create an API key for the "
        "<code>coder</code> command-line client?</p>\n"
        f'<form method="post" action="{_action()}">\n'
        '<button type="submit" name="create" value="1">Create an API key</button>\n</form>',
    )


def _show(user, token: str) -> Response:
    return _page(
        "Your API key",
        f"<p>A new API key for <strong>{escape(user.username)}</strong>. Copy it and paste it "
        "into <code>coder login</code>; it is shown only once.</p>\n"
        f'<p><input class="token" id="token" readonly value="{escape(token)}" '
        'aria-label="API key"></p>\n'
        "<p>Remove it when the CLI no longer needs it (<code>coder tokens rm</code>, or "
        "<code>DELETE /api/v0/api-keys/me/{id}</code>).</p>",
    )


def _signed_in_user():
    """The session cookie's user, or None (no cookie, or one that no longer works)."""
    if not (request.cookies.get(auth.SESSION_COOKIE) or "").strip():
        return None
    try:
        return auth.current_user()
    except errors.Unauthorized:
        return None


def _new_key(user) -> str:
    caller = dataclasses.replace(auth.caller(), user=user)
    name = f"coder-login-{secrets.token_hex(4)}"
    return api_keys.create_v0(caller, user, name, auth.lifetimes()).token


@blueprint.get(PATH)
def page():
    user = _signed_in_user()
    return _offer(user) if user is not None else _sign_in()


@blueprint.post(PATH)
def submit():
    try:
        csrf.check()  # for the sign-in form too: see the module's docstring
    except errors.Forbidden:
        return _page("Refused", "<p>This form must be sent from this site's own page.</p>", 403)
    if "email" not in request.form:
        user = _signed_in_user()
        if user is None:
            return _sign_in("Your session has ended: sign in again.", status=401)
        return _show(user, _new_key(user))
    try:
        form = SignInFormSchema().load(request.form.to_dict())
    except ma.ValidationError:
        return _sign_in("Enter your email and password.", request.form.get("email", ""), 400)
    try:
        new = auth.password_login(form["email"], form["password"])
    except errors.APIError as exc:
        return _sign_in(exc.message, form["email"], exc.status)
    auth.issue_session_cookie(new.token, auth.lifetimes().session_seconds)
    user = new.key.user
    return _show(user, _new_key(user))


def init_app(app) -> None:
    app.register_blueprint(blueprint)
