"""Who may run commands in which workspace, and the record of each session (wsep; SSH may share it).

Only the owner runs commands in a workspace: a site admin's token does not open another user's
shell, and other users' workspaces answer 404 whatever the caller may otherwise see. The
workspace must be ON with a container. Opening a session is audited (`connect` on the
`environment`, status 101; the command itself is not recorded: arguments carry secrets).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from app import errors
from app.db import database
from app.models import Workspace
from app.provisioner import pools
from app.provisioner.engine import EngineError
from app.services import audit
from app.services.context import Caller

RESOURCE = "environment"


@dataclass(frozen=True)
class ExecTarget:
    """The running workspace a session runs its command in."""

    workspace_id: str
    workspace_name: str
    container_id: str
    organization_id: str
    user_id: str
    username: str
    pool_id: str = ""  # the resource pool whose engine runs it


def target(caller: Caller, workspace_id: str) -> ExecTarget:
    """The caller's own running workspace; NotFound for anyone else's, Conflict if not ON."""
    user = caller.user
    if "\x00" in workspace_id:
        raise errors.NotFound()
    workspace = Workspace.get_or_none(Workspace.id == workspace_id)
    if workspace is None or user is None or workspace.user_id != user.id:
        raise errors.NotFound()
    if workspace.container_status != "ON" or not workspace.container_id:
        raise errors.Conflict(
            f'Workspace "{workspace.name}" is {workspace.container_status}: commands run only '
            "in a workspace that is ON.",
            detail=f"Rebuild it first: PATCH /api/v0/workspaces/{workspace.id} with {{}} "
            f"(coder envs rebuild {workspace.name}).",
        )
    return ExecTarget(
        workspace_id=workspace.id,
        workspace_name=workspace.name,
        container_id=workspace.container_id,
        organization_id=workspace.organization_id,
        user_id=user.id,
        username=user.username,
        pool_id=workspace.resource_pool_id,
    )


def engine_opener(target: ExecTarget, settings, secret_key: str) -> Callable:
    """What opens the engine of the target's resource pool once the session runs (after the
    request: the pool is read now); 409 if the pool is gone."""
    try:
        pool = pools.pool_for(target.pool_id)
    except EngineError as exc:
        raise errors.Conflict(str(exc)) from None
    return lambda: pools.engine_for(settings, secret_key, pool)


def record_connect(caller: Caller, session: ExecTarget) -> None:
    """Audit the opening of a command session."""
    with database.atomic():
        audit.record(
            caller,
            action="connect",
            resource_type=RESOURCE,
            resource_id=session.workspace_id,
            resource_target=session.workspace_name,
            organization_id=session.organization_id,
            status_code=101,
        )
