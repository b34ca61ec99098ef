"""API keys and sessions: minting, authenticating and per-request bookkeeping (SPEC §3.1)."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import dataclass

from app import db, errors, rbac, tokens
from app.db import database
from app.models import APIKey, User, UserActivity
from app.models.base import utcnow
from app.options import format_duration
from app.services import audit
from app.services.context import Caller

BOOKKEEPING_INTERVAL = dt.timedelta(hours=1)
DAY = 86400
KEY_LIFETIME = 7 * DAY  # POST /users/{user}/keys
DEFAULT_TOKEN_LIFETIME = 30 * DAY
SCOPES = ("all", "application_connect")
# Expiry times stay representable however large the configured lifetimes are.
LATEST_EXPIRY = dt.datetime(9000, 1, 1)


@dataclass(frozen=True)
class Lifetimes:
    """The deployment's token lifetimes (SPEC §3.1), from the options."""

    session_seconds: int = DAY
    max_token_ns: int = 876600 * 3600 * 1_000_000_000
    refresh: bool = True

    @property
    def max_token_seconds(self) -> int:
        return self.max_token_ns // 1_000_000_000


def _expiry(now: dt.datetime, seconds: int) -> dt.datetime:
    try:
        return min(now + dt.timedelta(seconds=seconds), LATEST_EXPIRY)
    except OverflowError:
        return LATEST_EXPIRY


@dataclass(frozen=True)
class NewKey:
    key: APIKey
    token: str  # shown once, never stored


def create(
    caller: Caller,
    user: User,
    *,
    lifetime_seconds: int,
    login_type: str = "token",
    token_name: str | None = None,
    scope: str = "all",
    application: bool = False,
    audited: bool = True,
) -> NewKey:
    """Mint a key for `user`; the token is returned once and only its hash is kept."""
    key_id, secret, hashed = tokens.generate()
    now = utcnow()
    with database.atomic():
        if token_name is not None and APIKey.get_or_none(
            (APIKey.user == user) & (APIKey.token_name == token_name)
        ):
            raise errors.Conflict(
                f"A token with name {json.dumps(token_name)} already exists.",
                validations=[("name", "This value is already in use and should be unique.")],
            )
        key = APIKey.create(
            id=key_id,
            user=user,
            hashed_secret=hashed,
            login_type=login_type,
            scope=scope,
            token_name=token_name,
            application=application,
            lifetime_seconds=lifetime_seconds,
            expires_at=_expiry(now, lifetime_seconds),
            last_used=now,  # equal to created_at: never used, so the first use is recorded
            ip_address=caller.ip,
            created_at=now,
            updated_at=now,
        )
        if audited:
            audit.record(
                caller,
                action="create",
                resource_type="api_key",
                resource_id=key.id,
                resource_target=token_name or key.id,
                changes=audit.diff(
                    {},
                    {
                        "token_name": token_name,
                        "user_id": user.id,
                        "lifetime_seconds": lifetime_seconds,
                        "scope": scope,
                    },
                ),
                status_code=201,
            )
    return NewKey(key=key, token=f"{key_id}-{secret}")


_KEY_WITH_USER = db.PreparedSelect(
    lambda key_id: APIKey.select(APIKey, User).join(User).where(APIKey.id == key_id).limit(1)
)


class AuthenticationFailed(errors.Unauthorized):
    """401 with Coder's detail text saying which check failed."""


def authenticate(token: str) -> APIKey:
    """The live key behind a presented token (with its user loaded), or AuthenticationFailed."""
    if not token:
        raise AuthenticationFailed(
            detail='Cookie "coder_session_token" or query parameter must be provided.'
        )
    try:
        key_id, secret = tokens.split(token)
    except tokens.TokenFormatError as exc:
        raise AuthenticationFailed(detail=f"Invalid API key format: {exc}.") from None
    key = _KEY_WITH_USER.first(key_id)
    if key is None:
        raise AuthenticationFailed(detail="API key is invalid.")
    if not tokens.secret_matches(secret, key.hashed_secret):
        raise AuthenticationFailed(detail="API key secret is invalid.")
    if key.expires_at <= utcnow():
        expired = key.expires_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        raise AuthenticationFailed(detail=f'API key expired at "{expired}".')
    if not key.user.is_active:
        raise AuthenticationFailed(
            f'User is not active (status = "{key.user.status}"). '
            "Contact an admin to reactivate your account."
        )
    return key


def touch(key: APIKey, *, ip: str = "", refresh_expiry: bool = True) -> bool:
    """Per-request bookkeeping, written at most once an hour per key and once per UTC day.

    Updates last_used, slides the expiry forward, the user's last_seen_at and the day's
    activity row. Returns whether anything was written.
    """
    now = utcnow()
    used = key.used_at is not None
    if used and now - key.last_used < BOOKKEEPING_INTERVAL and now.date() == key.last_used.date():
        return False
    updates = {APIKey.last_used: now, APIKey.updated_at: now}
    if ip:
        updates[APIKey.ip_address] = ip
    lifetime = dt.timedelta(seconds=min(key.lifetime_seconds, 1000 * 365 * DAY))
    if refresh_expiry and key.expires_at - now <= lifetime - dt.timedelta(hours=1):
        updates[APIKey.expires_at] = _expiry(now, key.lifetime_seconds)
    with database.atomic():
        APIKey.update(updates).where(APIKey.id == key.id).execute()
        User.update(last_seen_at=now).where(User.id == key.user_id).execute()
        record_activity(key.user_id, now.date())
    key.last_used = now
    return True


def record_activity(user_id: str, day: dt.date) -> None:
    """Mark the user active on `day` (idempotent)."""
    UserActivity.insert(user_id=user_id, day=day).on_conflict_ignore().execute()


def _require_manage(actor: User, owner: User, action: str = "api_keys:manage_others") -> None:
    """Your own keys; another's (once the owner is visible to you) with the action's roles and
    every permission the owner holds (rbac.require_acts_for): else 403."""
    rbac.require_acts_for(actor, owner, action)


def _name_or_generated(name: str | None) -> str:
    return name.strip() if name and name.strip() else f"token-{secrets.token_hex(4)}"


def create_v0(caller: Caller, owner: User, name: str | None, lifetimes: Lifetimes) -> NewKey:
    """v0 `POST /api-keys/{user}`: a named key living as long as tokens may."""
    _require_manage(caller.user, owner, "api_keys:create_for_others")
    return create(
        caller,
        owner,
        lifetime_seconds=lifetimes.max_token_seconds,
        login_type="token",
        token_name=_name_or_generated(name),
    )


SESSION_LOGIN_TYPES = ("password", "github", "oidc")


def create_key(caller: Caller, owner: User, session_login_type: str) -> NewKey:
    """v2 `POST /users/{user}/keys`: a session key for a week, unnamed, so not among the tokens.

    Its login type is the caller's session's (`password` when the caller used a token: pycoderd's
    users log in with passwords)."""
    _require_manage(caller.user, owner, "api_keys:create_for_others")
    if session_login_type not in SESSION_LOGIN_TYPES:
        session_login_type = "password"
    return create(caller, owner, lifetime_seconds=KEY_LIFETIME, login_type=session_login_type)


NANOSECONDS = 1_000_000_000


def _lifetime_refused(reason: str) -> errors.ValidationFailed:
    return errors.ValidationFailed("Failed to validate create API key request.", detail=reason)


def create_token(
    caller: Caller,
    user: User,
    *,
    token_name: str | None,
    lifetime_ns: int,
    max_lifetime_ns: int,
    scope: str = "all",
) -> NewKey:
    """A named token (`coder tokens create`): lifetime in nanoseconds, compared with the maximum
    in nanoseconds (coderd's words when refused); 0 = 30 days, capped by the maximum. A positive
    lifetime under a second lives one second."""
    if caller.user is not None:
        _require_manage(caller.user, user)
    if scope not in SCOPES:
        raise errors.ValidationFailed(validations=[("scope", f"must be one of {SCOPES}")])
    if lifetime_ns == 0:
        lifetime_ns = min(DEFAULT_TOKEN_LIFETIME * NANOSECONDS, max_lifetime_ns)
    if lifetime_ns <= 0:
        raise _lifetime_refused("lifetime must be positive number greater than 0")
    if lifetime_ns > max_lifetime_ns:
        raise _lifetime_refused(f"lifetime must be less than {format_duration(max_lifetime_ns)}")
    return create(
        caller,
        user,
        lifetime_seconds=max(1, lifetime_ns // NANOSECONDS),
        login_type="token",
        token_name=_name_or_generated(token_name),
        scope=scope,
    )


def _with_users(query):
    return query.select(APIKey, User).join(User)


def list_keys(actor: User, owner: User, *, include_all: bool = False) -> list[APIKey]:
    """The owner's tokens (not login sessions); every user's with include_all, if allowed."""
    _require_manage(actor, owner)
    query = _with_users(APIKey.select()).where(APIKey.login_type == "token")
    if not (include_all and rbac.can(actor, "api_keys:manage_others")):
        query = query.where(APIKey.user == owner.id)
    return list(query.order_by(APIKey.created_at, APIKey.id))


def _owned(actor: User, owner: User, condition) -> APIKey:
    _require_manage(actor, owner)
    key = _with_users(APIKey.select()).where((APIKey.user == owner.id) & condition).get_or_none()
    if key is None:
        raise errors.NotFound()
    return key


def get_key(actor: User, owner: User, key_id: str) -> APIKey:
    return _owned(actor, owner, APIKey.id == key_id)


def get_token_by_name(actor: User, owner: User, name: str) -> APIKey:
    return _owned(actor, owner, APIKey.token_name == name)


def _audit_key(caller: Caller, key: APIKey, action: str, changes: dict) -> None:
    audit.record(
        caller,
        action=action,
        resource_type="api_key",
        resource_id=key.id,
        resource_target=key.token_name or key.id,
        changes=changes,
    )


def delete_key(caller: Caller, owner: User, key_id: str) -> None:
    """Delete one of the owner's keys; it stops working at once."""
    key = get_key(caller.user, owner, key_id)
    with database.atomic():
        APIKey.delete_by_id(key.id)
        _audit_key(
            caller,
            key,
            "delete",
            audit.diff({"token_name": key.token_name, "user_id": owner.id}, {}),
        )


def regenerate(caller: Caller, owner: User, key_id: str) -> NewKey:
    """v0 regen: a new secret for the same key id; the old token stops working."""
    key = get_key(caller.user, owner, key_id)
    _, secret, hashed = tokens.generate()
    now = utcnow()
    with database.atomic():
        APIKey.update(
            hashed_secret=hashed,
            expires_at=_expiry(now, key.lifetime_seconds),
            updated_at=now,
        ).where(APIKey.id == key.id).execute()
        _audit_key(caller, key, "write", audit.diff({"secret": "old"}, {"secret": "new"}))
    return NewKey(key=APIKey.get_by_id(key.id), token=f"{key.id}-{secret}")
