"""Plain factory functions for tests."""

from __future__ import annotations

import itertools

from app import db
from app.services import api_keys, users
from app.services.context import Caller

_counter = itertools.count(1)
TEST_CALLER = Caller(user=None, user_agent="pytest")


def make_user(*roles, username=None, password="", email=None, **fields):
    """A user with the given site roles (created through the service, so it is audited)."""
    n = next(_counter)
    username = username or f"user{n}"
    with db.database.connection_context():
        return users.create(
            TEST_CALLER,
            username=username,
            email=email or f"{username}@example.com",
            password=password,
            roles=roles,
            **fields,
        )


def make_token(user, *, name=None, lifetime_seconds=86400, login_type="token") -> str:
    """A working token for `user`."""
    with db.database.connection_context():
        return api_keys.create(
            TEST_CALLER,
            user,
            lifetime_seconds=lifetime_seconds,
            login_type=login_type,
            token_name=name,
        ).token


def auth_headers(token: str, version: str = "v2") -> dict:
    return {"Coder-Session-Token" if version == "v2" else "Session-Token": token}
