"""User rules: lookup by id/username/`me`, visibility, creation, changes, deletion, SSH keys."""

from __future__ import annotations

import re
from collections.abc import Iterator

from app import errors, rbac
from app.db import PreparedSelect, database
from app.models import APIKey, User, Workspace
from app.models.base import utcnow
from app.models.users import SITE_ROLES, roles_from_stored
from app.services import addresses, audit, organizations, paging, passwords, ssh_keys
from app.services.context import Caller

USERNAME_RE = re.compile(r"^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,37}[a-zA-Z0-9])?$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
LOGIN_TYPES = ("built-in", "saml", "oidc", "none")
STATUSES = ("active", "suspended")
TEMPORARY_PASSWORD = "You must change your temporary password before you can continue."


def hash_password(password: str) -> str:
    return passwords.hash_password(password)


def password_matches(user: User, password: str) -> bool:
    return passwords.matches(user.password_hash, password)


def find(identifier: str, caller_user: User | None = None) -> User | None:
    """A user by UUID, username (case-insensitive) or `me`."""
    if identifier == "me":
        return caller_user
    user = User.get_or_none(User.id == identifier)
    if user is None:
        user = User.get_or_none(User.username_key == identifier.lower())
    return user


def _password_problems(password: str, temporary: bool) -> list[tuple[str, str]]:
    found = passwords.temporary_problems(password) if temporary else passwords.problems(password)
    return [("password", text) for text in found]


def check_new_user(username: str, email: str, roles=(), name: str = "") -> list[tuple[str, str]]:
    problems = []
    if len(name or "") > 255:
        problems.append(("name", "must be at most 255 characters"))
    if not USERNAME_RE.match(username or ""):
        problems.append(
            ("username", "must be 1-39 letters, digits or hyphens, not starting or ending with -")
        )
    if not EMAIL_RE.match(email or "") or len(email) > 320:
        problems.append(("email", "must be a valid email address (at most 320 characters)"))
    for role in roles:
        if role not in SITE_ROLES:
            problems.append(("roles", f'unknown role "{role}"'))
    return problems


def _check_unique(username: str | None, email: str | None, exclude: str | None = None) -> None:
    others = User.select()
    if exclude is not None:
        others = others.where(User.id != exclude)
    if username is not None and others.where(User.username_key == username.lower()).exists():
        raise errors.Conflict(f'A user named "{username}" already exists.')
    if email is not None and others.where(User.email == email.lower()).exists():
        raise errors.Conflict(f'A user with email "{email}" already exists.')


def _state(user: User) -> dict:
    """The audited fields of a user."""
    return {
        "username": user.username,
        "email": user.email,
        "name": user.name,
        "roles": user.roles,
        "status": user.status,
        "login_type": user.login_type,
        "temporary_password": user.temporary_password,
        "password": user.password_hash,
    }


def _record(caller: Caller, user: User, action: str, before, after, status_code=200) -> None:
    audit.record(
        caller,
        action=action,
        resource_type="user",
        resource_id=user.id,
        resource_target=user.username,
        changes=audit.diff(before, after),
        status_code=status_code,
    )


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
    keygen: ssh_keys.Keygen | None = None,
) -> User:
    """Create a user, add them to organizations, audit it; all in one transaction.

    A password must pass the v2 rules, or only the minimum length when it is temporary.
    """
    problems = check_new_user(username, email, roles, name)
    if login_type not in LOGIN_TYPES:
        problems.append(("login_type", f"must be one of {', '.join(LOGIN_TYPES)}"))
    if password:
        problems.extend(_password_problems(password, temporary_password))
    if problems:
        raise errors.ValidationFailed(validations=problems)
    key_pair = ssh_keys.generate(keygen) if keygen is not None else None
    with database.atomic():
        _check_unique(username, email)
        targets = []
        for org_id in organization_ids:
            try:
                organization = organizations.get(org_id)
            except errors.NotFound:
                raise errors.ValidationFailed(
                    validations=[("organizations", f'unknown organization "{org_id}"')]
                ) from None
            if organization.id not in {o.id for o in targets}:
                targets.append(organization)
        user = User(
            username=username,
            username_key=username.lower(),
            email=email.lower(),
            name=name,
            password_hash=hash_password(password) if password else "",
            login_type=login_type,
            temporary_password=bool(password) and temporary_password,
        )
        user.roles = roles
        if key_pair is not None:
            _set_key_pair(user, key_pair)
        user.save(force_insert=True)
        for organization in targets:
            organizations.add_member(organization, user)
        _record(
            caller,
            user,
            "create",
            {},
            {**_state(user), "organizations": [o.id for o in targets]},
            201,
        )
    return user


def create_by(caller: Caller, **fields) -> User:
    """v0 `POST /users`: site admins and managers; only site admins hand out site roles."""
    rbac.require(caller.user, "users:create")
    roles = fields.get("roles") or ()
    if any(role != rbac.MEMBER for role in roles) and not rbac.can(caller.user, "users:set_roles"):
        raise errors.Forbidden("Only site admins may assign site roles.")
    if fields.get("login_type", "built-in") == "built-in" and not fields.get("password"):
        raise errors.ValidationFailed(
            validations=[("password", "required for built-in login (or set login_type)")]
        )
    return create(caller, **fields)


def _set_key_pair(user: User, key_pair: ssh_keys.KeyPair) -> None:
    user.ssh_key_algorithm = key_pair.algorithm
    user.ssh_public_key = key_pair.public_key
    user.ssh_private_key_encrypted = key_pair.private_key_encrypted


def refuse_temporary_password(user: User | None) -> None:
    """403 for a user who must first change the temporary password an admin gave them."""
    if user is not None and user.temporary_password:
        raise errors.Forbidden(TEMPORARY_PASSWORD)


def can_see(viewer: User | None, user: User) -> bool:
    return viewer is not None and (user.id == viewer.id or rbac.can(viewer, "users:read_all"))


def get_visible(viewer: User, identifier: str) -> User:
    """The user named by id/username/`me`, if the viewer may see them (else 404)."""
    user = find(identifier, viewer)
    if user is None or not can_see(viewer, user):
        raise errors.NotFound()
    if user.id != viewer.id:
        refuse_temporary_password(viewer)
    return user


def assignable_site_roles(actor: User, names: dict) -> list[dict]:
    """v2's site roles (`names`: stored role -> ((name, display name), ...)), each with whether
    `actor` may give it."""
    may = rbac.can(actor, "users:set_roles")
    return [
        {"name": name, "display_name": display, "assignable": may}
        for pairs in names.values()
        for name, display in pairs
    ]


def resolve_v2(viewer: User, identifier: str) -> User:
    """v2's `{user}`: an unknown one is a 400, as Coder answers; an invisible one a 404."""
    user = find(identifier, viewer)
    if user is None:
        raise errors.BadRequest('"user" must be an existing uuid or username.')
    if not can_see(viewer, user):
        raise errors.NotFound()
    if user.id != viewer.id:
        refuse_temporary_password(viewer)
    return user


# The columns the user list shows; rows come back as dicts (a model per row cost more than the
# rest of the request). The first batch comes from a prepared statement (most deployments' whole
# list); longer lists continue batch by batch (app.services.paging).
_LISTED_COLUMNS = (
    User.id,
    User.email,
    User.username,
    User.username_key,
    User.name,
    User.site_roles,
    User.temporary_password,
    User.login_type,
    User.key_regenerated_at,
    User.created_at,
    User.updated_at,
)
_LISTED_ORDER = (User.created_at, User.username_key)
_FIRST_LISTED = PreparedSelect(
    lambda: User.select(*_LISTED_COLUMNS).order_by(*_LISTED_ORDER).limit(paging.BATCH).dicts()
)


def list_visible(viewer: User, limit: int | None = None, offset: int = 0) -> Iterator[list]:
    """Everyone for site admins and managers (as dicts of the listed columns plus `roles`),
    yourself for everyone else; oldest first, in batches."""
    if not rbac.can(viewer, "users:read_all"):
        return iter([[viewer][offset : None if limit is None else offset + limit]])
    query = User.select(*_LISTED_COLUMNS).dicts()
    pages = paging.batches(
        query, _LISTED_ORDER, limit=limit, offset=offset, first=_FIRST_LISTED.all
    )
    return map(_with_roles, pages)


def _with_roles(rows: list[dict]) -> list[dict]:
    for row in rows:
        row["roles"] = roles_from_stored(row.pop("site_roles"))
    return rows


def count() -> int:
    return User.select().count()


def _require_may_edit(actor: User, user: User) -> None:
    rbac.require_acts_for(actor, user, "users:update_others")


def update(caller: Caller, user: User, changes: dict) -> User:
    """Apply a v0 PATCH (absent or null = unchanged); a password change of your own needs
    `old_password`, and a temporary-password holder may change nothing else."""
    actor = caller.user
    changes = {k: v for k, v in changes.items() if v is not None}
    old_password = changes.pop("old_password", None)
    own = actor.id == user.id
    if actor.temporary_password and (not own or set(changes) - {"password"}):
        raise errors.Forbidden(TEMPORARY_PASSWORD)
    _require_may_edit(actor, user)
    problems = check_new_user(
        changes.get("username", user.username),
        changes.get("email", user.email),
        changes.get("roles", ()),
        changes.get("name", ""),
    )
    if "status" in changes and changes["status"] not in STATUSES:
        problems.append(("status", f"must be one of {', '.join(STATUSES)}"))
    if "login_type" in changes and changes["login_type"] not in LOGIN_TYPES:
        problems.append(("login_type", f"must be one of {', '.join(LOGIN_TYPES)}"))
    password = changes.pop("password", None)
    temporary = bool(changes.pop("temporary_password", not own)) and not own
    if password is not None:
        problems.extend(_password_problems(password, temporary))
    if problems:
        raise errors.ValidationFailed(validations=problems)
    if "roles" in changes:
        rbac.require(actor, "users:set_roles")
        if own and rbac.ADMIN in user.roles and rbac.ADMIN not in changes["roles"]:
            raise errors.Forbidden("You cannot remove your own site-admin role.")
    if "status" in changes and own and changes["status"] != "active":
        raise errors.Forbidden("You cannot suspend yourself.")
    if own and changes.get("login_type", user.login_type) != user.login_type:
        # How a user signs in is the deployment's to decide (site admins and managers).
        raise errors.Forbidden("You cannot change your own login type.")
    if password is not None and own and not password_matches(user, old_password or ""):
        raise errors.ValidationFailed(
            "Old password is incorrect.",
            validations=[("old_password", "does not match your current password")],
        )
    with database.atomic():
        user = addresses.lock_owner(user.id)
        before = _state(user)
        _check_unique(changes.get("username"), changes.get("email"), exclude=user.id)
        if "username" in changes:
            addresses.rename_user(user, changes["username"])
        for field in ("username", "name", "status", "login_type", "avatar_url"):
            if field in changes:
                setattr(user, field, changes[field])
        if "username" in changes:
            user.username_key = changes["username"].lower()
        if "email" in changes:
            user.email = changes["email"].lower()
        if "roles" in changes:
            user.roles = changes["roles"]
        if password is not None:
            user.password_hash = hash_password(password)
            user.temporary_password = temporary
            _end_other_keys(caller, user)
        user.updated_at = utcnow()
        user.save()
        _record(caller, user, "write", before, _state(user))
    return user


def _end_other_keys(caller: Caller, user: User) -> None:
    """A new password ends every key of the user (sessions and tokens alike, as coderd's
    password change deletes them all) but the one this very request came with, when the user
    changes their own: whoever held the old password loses what they made with it."""
    ended = APIKey.delete().where(APIKey.user == user.id)
    if caller.user_id == user.id and caller.key_id:
        ended = ended.where(APIKey.id != caller.key_id)
    ended.execute()


def _workspace_count(user: User) -> int:
    return Workspace.select().where(Workspace.user == user.id).count()


def delete(caller: Caller, user: User) -> None:
    """Delete a user; their tokens and sessions stop working at once (the rows go with them)."""
    actor = caller.user
    rbac.require(actor, "users:delete")
    if actor.id == user.id:
        raise errors.Forbidden("You cannot delete yourself.")
    rbac.require_acts_for(actor, user, "users:delete")
    with database.atomic():
        if _workspace_count(user):
            raise errors.Conflict(
                "You cannot delete a user with workspaces. Delete their workspaces first."
            )
        before = _state(user)
        APIKey.delete().where(APIKey.user == user.id).execute()
        User.delete_by_id(user.id)
        _record(caller, user, "delete", before, {})


def ssh_key(caller: Caller, user: User, keygen: ssh_keys.Keygen) -> dict:
    """The user's public key, and the private key when the caller is its owner.

    A user without a key pair (created before keys, or by the CLI) gets one now.
    """
    if not user.ssh_public_key:
        user = regenerate_ssh_key(caller, user, keygen, check=False)
    shown = {"public_key": user.ssh_public_key}
    if caller.user is not None and caller.user.id == user.id:
        shown["private_key"] = ssh_keys.private_key(keygen, user.ssh_private_key_encrypted)
    return shown


def regenerate_ssh_key(caller: Caller, user: User, keygen: ssh_keys.Keygen, *, check=True):
    """A new key pair for the user (owner, or site admins and managers)."""
    if check:
        _require_may_edit(caller.user, user)
    key_pair = ssh_keys.generate(keygen)
    with database.atomic():
        user = User.get_by_id(user.id)
        before = {"public_key": user.ssh_public_key, "private_key": user.ssh_private_key_encrypted}
        _set_key_pair(user, key_pair)
        user.key_regenerated_at = utcnow()
        user.save()
        after = {"public_key": user.ssh_public_key, "private_key": key_pair.private_key_encrypted}
        _record(caller, user, "write", before, after)
    return user


FIRST_USER_EXISTS = "The initial user has already been created."


def has_first_user() -> bool:
    return User.select().exists()


def create_first(
    caller: Caller, *, username: str, email: str, password: str, name: str, keygen
) -> User:
    """The first user of the deployment, a site admin; 409 once there is any user."""
    if not password:
        raise errors.ValidationFailed(validations=[("password", "required")])
    with database.atomic():
        if has_first_user():
            raise errors.Conflict(FIRST_USER_EXISTS)
        return create(
            caller,
            username=username,
            email=email,
            password=password,
            name=name,
            roles=(rbac.ADMIN,),
            keygen=keygen,
        )
