"""API keys and sessions: minting, authenticating and per-request bookkeeping (SPEC §3.1)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from app import db, errors, tokens
from app.db import database
from app.models import APIKey, User, UserActivity
from app.models.base import utcnow
from app.services import audit
from app.services.context import Caller

BOOKKEEPING_INTERVAL = dt.timedelta(hours=1)


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
            raise errors.Conflict(f'A token named "{token_name}" already exists for this user.')
        key = APIKey.create(
            id=key_id,
            user=user,
            hashed_secret=hashed,
            login_type=login_type,
            scope=scope,
            token_name=token_name,
            application=application,
            lifetime_seconds=lifetime_seconds,
            expires_at=now + dt.timedelta(seconds=lifetime_seconds),
            last_used=now,
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
        raise errors.Unauthorized(
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
    if now - key.last_used < BOOKKEEPING_INTERVAL and now.date() == key.last_used.date():
        return False
    updates = {APIKey.last_used: now, APIKey.updated_at: now}
    if ip:
        updates[APIKey.ip_address] = ip
    lifetime = dt.timedelta(seconds=key.lifetime_seconds)
    if refresh_expiry and key.expires_at - now <= lifetime - dt.timedelta(hours=1):
        updates[APIKey.expires_at] = now + lifetime
    with database.atomic():
        APIKey.update(updates).where(APIKey.id == key.id).execute()
        User.update(last_seen_at=now).where(User.id == key.user_id).execute()
        record_activity(key.user_id, now.date())
    key.last_used = now
    return True


def record_activity(user_id: str, day: dt.date) -> None:
    """Mark the user active on `day` (idempotent)."""
    UserActivity.insert(user_id=user_id, day=day).on_conflict_ignore().execute()


def create_token(
    caller: Caller,
    user: User,
    *,
    token_name: str,
    lifetime_seconds: int,
    max_lifetime_ns: int,
    scope: str = "all",
) -> NewKey:
    """A named token (`coder tokens create`), its lifetime capped by max_token_lifetime."""
    if lifetime_seconds <= 0:
        raise errors.ValidationFailed(validations=[("lifetime", "must be positive")])
    if lifetime_seconds * 1_000_000_000 > max_lifetime_ns:
        limit = max_lifetime_ns // 1_000_000_000
        raise errors.ValidationFailed(
            f"Lifetime must be less than {limit} seconds.",
            validations=[("lifetime", f"must be at most {limit} seconds")],
        )
    return create(
        caller,
        user,
        lifetime_seconds=lifetime_seconds,
        login_type="token",
        token_name=token_name,
        scope=scope,
    )
