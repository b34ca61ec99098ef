"""Password logins and logouts (v2 `/users/login`, `/users/logout`), failures audited too."""

from __future__ import annotations

from app import errors, rbac
from app.db import database
from app.models import APIKey, User
from app.services import api_keys, audit, passwords
from app.services.context import Caller

BAD_CREDENTIALS = "Incorrect email or password."
# Checked against when the email is unknown, so a miss costs as much as a wrong password.
_DUMMY_HASH = passwords.hash_password("not a real password, only a timing equaliser")


def _refuse(caller: Caller, user: User | None, email: str, error: errors.APIError):
    """Audit the failed login in its own transaction, then refuse it."""
    with database.atomic():
        audit.record(
            caller,
            action="login",
            resource_type="api_key",
            resource_target=user.username if user is not None else email[:255],
            status_code=error.status,
            user=user,
        )
    raise error


def login(
    caller: Caller,
    *,
    email: str,
    password: str,
    lifetimes: api_keys.Lifetimes,
    password_auth_disabled: bool = False,
) -> api_keys.NewKey:
    """A session token for a correct email and password (401 otherwise, audited)."""
    user = User.get_or_none(User.email == email.strip().lower())
    if user is None:
        passwords.matches(_DUMMY_HASH, password)
        _refuse(caller, None, email, errors.Unauthorized(BAD_CREDENTIALS))
    if not passwords.matches(user.password_hash, password):
        _refuse(caller, user, email, errors.Unauthorized(BAD_CREDENTIALS))
    if user.login_type != "built-in":
        _refuse(
            caller,
            user,
            email,
            errors.Forbidden(
                f'Incorrect login type, attempting to use "password" but user is of login '
                f'type "{user.login_type}".'
            ),
        )
    if password_auth_disabled and rbac.ADMIN not in user.roles:
        _refuse(caller, user, email, errors.Forbidden("Password authentication is disabled."))
    if not user.is_active:
        _refuse(
            caller,
            user,
            email,
            errors.Unauthorized(
                f"Your account is {user.status}. Contact an admin to reactivate your account."
            ),
        )
    with database.atomic():
        new = api_keys.create(
            caller,
            user,
            lifetime_seconds=lifetimes.session_seconds,
            login_type="password",
            audited=False,
        )
        audit.record(
            caller,
            action="login",
            resource_type="api_key",
            resource_id=new.key.id,
            resource_target=user.username,
            status_code=201,
            user=user,
        )
    return new


def logout(caller: Caller, key: APIKey) -> None:
    """The session's key is deleted (it stops working at once), with the user's
    `application_connect` keys as coderd does, and the logout audited."""
    with database.atomic():
        APIKey.delete().where(
            (APIKey.id == key.id)
            | ((APIKey.user == key.user_id) & (APIKey.scope == "application_connect"))
        ).execute()
        audit.record(
            caller,
            action="logout",
            resource_type="api_key",
            resource_id=key.id,
            resource_target=key.user.username,
        )
