"""Who may log in to the SSH gateway, and what each login reaches (no SSH protocol here).

A login name is `<username>-<workspace>`; the key must be the user's v0 SSH key (the public key
stored for the user, `GET /api/v0/users/me/sshkey`). Every check is made again whenever a
channel opens and every minute while a connection stays open, so a suspended user, a
regenerated key or a deleted workspace ends access without waiting for the client to leave.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass

from app.db import database
from app.models import User, Workspace
from app.services import activity, audit, workspaces
from app.services.context import Caller

RESOURCE = "environment"


class Refused(Exception):
    """The login may not open this channel now; the message is shown to the client."""


@dataclass(frozen=True)
class Login:
    user_id: str
    username: str
    workspace_id: str
    workspace_name: str
    organization_id: str


@dataclass(frozen=True)
class Target:
    """Where a channel of a running workspace goes."""

    container_id: str
    address: str  # its ports: the recorded network address (127.0.0.1 on the host network)
    pool_id: str = ""  # the resource pool whose engine runs it (empty: the built-in one)


def key_matches(stored: str, offered_blob: bytes) -> bool:
    """Whether the offered public key (its SSH wire blob) is the stored authorized_keys line."""
    parts = stored.split()
    if len(parts) < 2:
        return False
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(blob, offered_blob)


def _allowed_workspace(login_name: str, key_blob: bytes) -> Workspace | None:
    """The workspace the login name names (SPEC §15: one at most, whatever is renamed later), if
    its owner is active and this is their key."""
    workspace = workspaces.by_ssh_login(login_name)
    if workspace is None:
        return None
    user = workspace.user
    if not user.is_active or not key_matches(user.ssh_public_key, key_blob):
        return None
    return workspace


def authorize(login_name: str, key_blob: bytes) -> Login | None:
    """The login if this key may log in under this name (the workspace may be off), else None."""
    with database.connection_context():
        workspace = _allowed_workspace(login_name, key_blob)
    if workspace is None:
        return None
    return Login(
        user_id=workspace.user.id,
        username=workspace.user.username,
        workspace_id=workspace.id,
        workspace_name=workspace.name,
        organization_id=workspace.organization_id,
    )


def still_allowed(login: Login, login_name: str, key_blob: bytes) -> bool:
    """The same checks again: the user active with this key, the name still this workspace."""
    with database.connection_context():
        workspace = _allowed_workspace(login_name, key_blob)
    return workspace is not None and workspace.id == login.workspace_id


def target(login: Login, login_name: str, key_blob: bytes, network: str) -> Target:
    """Where a new channel goes; raises Refused when access ended or the workspace is not ON."""
    with database.connection_context():
        workspace = _allowed_workspace(login_name, key_blob)
    if workspace is None or workspace.id != login.workspace_id:
        raise Refused("Access to this workspace has ended.")
    if workspace.container_status != "ON" or not workspace.container_id:
        raise Refused(
            f'The workspace "{workspace.name}" is not running ({workspace.container_status}); '
            "start it and connect again."
        )
    address = workspace.network_address or ("127.0.0.1" if network == "host" else "")
    return Target(
        container_id=workspace.container_id, address=address, pool_id=workspace.resource_pool_id
    )


def activity_session(login: Login) -> activity.Session:
    """An authenticated SSH connection uses its workspace until it closes (activity service)."""
    return activity.Session(login.workspace_id, login.user_id, "ssh")


def audit_connect(login: Login, ip: str, client_version: str, connection_id: str) -> None:
    """One `connect` entry per authenticated SSH connection."""
    with database.connection_context(), database.atomic():
        user = User.get_by_id(login.user_id)
        audit.record(
            Caller(user=user, ip=ip, user_agent=client_version, request_id=connection_id),
            action="connect",
            resource_type=RESOURCE,
            resource_id=login.workspace_id,
            resource_target=login.workspace_name,
            organization_id=login.organization_id,
        )
