"""The names that lead to a workspace (SPEC §15): each dev URL host and SSH login has one target.

Three derived, lower-cased, uniquely indexed columns hold them: `workspace.ssh_login`
(`<username>-<workspace>`, the classic CLI's SSH login), `workspace.devurl_label`
(`<workspace>-<username>`: its dev URL hosts are `<port>--<label>`) and `dev_url.host_label`
(`<name>--<username>`). Names, workspaces and usernames may all hold hyphens, so two different
pairs can spell the same string: whatever would make a name a second target's (a workspace
created, a dev URL named, a user renamed) is refused with a 409 naming the field, in the
transaction that makes the change. Callers own that transaction.
"""

from __future__ import annotations

from peewee import IntegrityError

from app import db, errors
from app.db import database
from app.devurls import hosts
from app.models import DevURL, User, Workspace


def ssh_login(username: str, workspace_name: str) -> str:
    return f"{username}-{workspace_name}".lower()


def devurl_label(workspace_name: str, username: str) -> str:
    return f"{workspace_name}-{username}".lower()


def workspace_names(workspace_name: str, username: str) -> dict:
    """The derived columns of a workspace named `workspace_name` owned by `username`."""
    return {
        "ssh_login": ssh_login(username, workspace_name),
        "devurl_label": devurl_label(workspace_name, username),
    }


def devurl_host_label(name: str | None, username: str) -> str | None:
    return hosts.named_label(name, username) if name else None


def lock_owner(user_id: str) -> User:
    """The user row, read afresh and (PostgreSQL) locked until the transaction ends: a rename
    and a create naming something after the old username cannot interleave. SQLite's
    transactions are serialised already (IMMEDIATE)."""
    query = User.select().where(User.id == user_id)
    if db.is_postgres():
        query = query.for_update()
    return query.get()


def check_workspace(names: dict, field: str, exclude_id: str | None = None) -> None:
    """409 naming `field` if another workspace already answers to one of `names`."""
    others = Workspace.select(Workspace.id)
    if exclude_id is not None:
        others = others.where(Workspace.id != exclude_id)
    if others.where(Workspace.ssh_login == names["ssh_login"]).exists():
        raise _taken(field, f'the SSH login "{names["ssh_login"]}" belongs to another workspace')
    if others.where(Workspace.devurl_label == names["devurl_label"]).exists():
        raise _taken(
            field,
            f'the dev URL hosts "<port>--{names["devurl_label"]}" belong to another workspace',
        )


def check_devurl(label: str | None, field: str, exclude_id: str | None = None) -> None:
    """409 naming `field` if another dev URL already has the host label."""
    if label is None:
        return
    others = DevURL.select(DevURL.id).where(DevURL.host_label == label)
    if exclude_id is not None:
        others = others.where(DevURL.id != exclude_id)
    if others.exists():
        raise _taken(field, f'the dev URL host "{label}" belongs to another dev URL')


def save_claiming(instance, field: str, **save_args) -> None:
    """Save a row whose names were checked; a concurrent claim of one of them (the unique
    index) is the same 409."""
    try:
        with database.atomic():
            instance.save(**save_args)
    except IntegrityError:
        raise _taken(field, "another request took one of its names first") from None


def rename_user(user: User, new_username: str) -> None:
    """Re-derive every name of the user's workspaces and named dev URLs for `new_username`;
    409 naming `username` if one would become another target's. Call with the user locked."""
    workspaces = list(
        Workspace.select(Workspace.id, Workspace.name).where(Workspace.user == user.id)
    )
    named = list(
        DevURL.select(DevURL.id, DevURL.name)
        .join(Workspace)
        .where((Workspace.user == user.id) & DevURL.name.is_null(False))
    )
    own_ids = [w.id for w in workspaces]
    for workspace in workspaces:
        names = workspace_names(workspace.name, new_username)
        others = Workspace.select(Workspace.id).where(Workspace.id.not_in(own_ids))
        if others.where(
            (Workspace.ssh_login == names["ssh_login"])
            | (Workspace.devurl_label == names["devurl_label"])
        ).exists():
            raise _taken(
                "username",
                f'workspace "{workspace.name}" would get an SSH login or dev URL host that '
                "belongs to another workspace",
            )
    own_devurls = [d.id for d in named]
    for devurl in named:
        label = devurl_host_label(devurl.name, new_username)
        if (
            DevURL.select(DevURL.id)
            .where((DevURL.host_label == label) & DevURL.id.not_in(own_devurls))
            .exists()
        ):
            raise _taken("username", f'the dev URL host "{label}" belongs to another dev URL')
    try:
        with database.atomic():
            # Cleared first: one row's new name may be another of this user's rows' old one.
            if own_ids:
                Workspace.update(ssh_login=None, devurl_label=None).where(
                    Workspace.id.in_(own_ids)
                ).execute()
            if own_devurls:
                DevURL.update(host_label=None).where(DevURL.id.in_(own_devurls)).execute()
            for workspace in workspaces:
                Workspace.update(**workspace_names(workspace.name, new_username)).where(
                    Workspace.id == workspace.id
                ).execute()
            for devurl in named:
                DevURL.update(host_label=devurl_host_label(devurl.name, new_username)).where(
                    DevURL.id == devurl.id
                ).execute()
    except IntegrityError:
        raise _taken("username", "another request took one of its names first") from None


def _taken(field: str, why: str) -> errors.Conflict:
    return errors.Conflict(
        f"This {field} would give a dev URL host or SSH login two targets.",
        validations=[(field, why)],
    )
