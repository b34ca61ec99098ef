"""User rules: creation, lookup by id/username/`me`, passwords."""

from __future__ import annotations

import re

from werkzeug.security import check_password_hash, generate_password_hash

from app import errors, rbac
from app.db import database
from app.models import User
from app.models.users import SITE_ROLES
from app.services import audit, organizations
from app.services.context import Caller

USERNAME_RE = re.compile(r"^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,37}[a-zA-Z0-9])?$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def hash_password(password: str) -> str:
    return generate_password_hash(password, method="scrypt")


def password_matches(user: User, password: str) -> bool:
    return bool(user.password_hash) and check_password_hash(user.password_hash, password)


def find(identifier: str, caller_user: User | None = None) -> User | None:
    """A user by UUID, username (case-insensitive) or `me`."""
    if identifier == "me":
        return caller_user
    user = User.get_or_none(User.id == identifier)
    if user is None:
        user = User.get_or_none(User.username_key == identifier.lower())
    return user


def check_new_user(username: str, email: str, roles=()) -> list[tuple[str, str]]:
    problems = []
    if not USERNAME_RE.match(username or ""):
        problems.append(
            ("username", "must be 1-39 letters, digits or hyphens, not starting or ending with -")
        )
    if not EMAIL_RE.match(email or ""):
        problems.append(("email", "must be a valid email address"))
    for role in roles:
        if role not in SITE_ROLES:
            problems.append(("roles", f'unknown role "{role}"'))
    return problems


def create(
    caller: Caller,
    *,
    username: str,
    email: str,
    password: str = "",
    name: str = "",
    roles=(),
    login_type: str = "built-in",
    temporary_password: bool = False,
    organization_ids=("default",),
) -> User:
    """Create a user, add them to organizations, audit it; all in one transaction."""
    problems = check_new_user(username, email, roles)
    if problems:
        raise errors.ValidationFailed(validations=problems)
    with database.atomic():
        if User.get_or_none(User.username_key == username.lower()):
            raise errors.Conflict(f'A user named "{username}" already exists.')
        if User.get_or_none(User.email == email.lower()):
            raise errors.Conflict(f'A user with email "{email}" already exists.')
        user = User(
            username=username,
            username_key=username.lower(),
            email=email.lower(),
            name=name,
            password_hash=hash_password(password) if password else "",
            login_type=login_type,
            temporary_password=temporary_password,
        )
        user.roles = roles
        user.save(force_insert=True)
        seen = set()
        for org_id in organization_ids:
            organization = organizations.get(org_id)
            if organization.id not in seen:
                organizations.add_member(organization, user)
                seen.add(organization.id)
        audit.record(
            caller,
            action="create",
            resource_type="user",
            resource_id=user.id,
            resource_target=user.username,
            changes=audit.diff(
                {},
                {
                    "username": username,
                    "email": user.email,
                    "roles": user.roles,
                    "password": bool(password),
                },
            ),
            status_code=201,
        )
    return user


def get_visible(viewer: User, identifier: str) -> User:
    """The user named by id/username/`me`, if the viewer may see them (else 404)."""
    user = find(identifier, viewer)
    if user is None:
        raise errors.NotFound()
    if user.id != viewer.id:
        rbac.require_visible(viewer, "users:read_all")
    return user


def resolve_v2(viewer: User, identifier: str) -> User:
    """v2's `{user}`: an unknown one is a 400, as Coder answers."""
    user = find(identifier, viewer)
    if user is None:
        raise errors.BadRequest('"user" must be an existing uuid or username.')
    if user.id != viewer.id:
        rbac.require_visible(viewer, "users:read_all")
    return user


def count() -> int:
    return User.select().count()
