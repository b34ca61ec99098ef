"""Workspace rules: create, list, get, rebuild, stop, delete, build logs, workspaces config.

Every change is one transaction that updates the row, queues a provisioner job and writes the
audit entry (`environment`). The daemons (app.provisioner) do the container work afterwards.
`for_api` turns workspaces into the v0 wire shape for anyone who embeds them (images, dev URLs).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator

from app import errors, rbac
from app.db import database
from app.models import BuildLog, Image, OrganizationMember, User, Workspace, WorkspaceConfig
from app.models.base import utcnow
from app.provisioner import jobs
from app.services import addresses, audit, organizations, paging, resource_pools
from app.services.context import Caller

RESOURCE = "environment"
NAME_RE = re.compile(r"^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,62}[a-zA-Z0-9])?$")
NAME_RULE = "must be 1-64 letters, digits or hyphens, not starting or ending with -"
RESOURCE_FIELDS = ("image_id", "image_tag", "cpu_cores", "memory_gb", "disk_gb", "gpus")
FOLLOW_POLL_SECONDS = 0.25
FOLLOW_MAX_SECONDS = 3600


# ---------------------------------------------------------------- wire shape


def latest_stat(workspace: Workspace) -> dict:
    return {
        "time": workspace.stat_time or workspace.updated_at,
        "last_online": workspace.last_online,
        "container_status": workspace.container_status,
        "stat_error": workspace.stat_error,
        "cpu_usage": workspace.cpu_usage,
        "memory_total": workspace.memory_total,
        "memory_usage": workspace.memory_usage,
        "disk_total": workspace.disk_total,
        "disk_used": workspace.disk_used,
    }


def serialize(workspace: Workspace, updating: bool) -> dict:
    """One workspace in the v0 wire shape (dump it with WorkspaceSchema)."""
    return {
        "id": workspace.id,
        "name": workspace.name,
        "image_id": workspace.image_id,
        "image_tag": workspace.image_tag,
        "organization_id": workspace.organization_id,
        "user_id": workspace.user_id,
        "last_built_at": workspace.last_built_at,
        "cpu_cores": workspace.cpu_cores,
        "memory_gb": workspace.memory_gb,
        "disk_gb": workspace.disk_gb,
        "gpus": workspace.gpus,
        "updating": updating,
        "latest_stat": latest_stat(workspace),
        "rebuild_messages": json.loads(workspace.rebuild_messages or "[]"),
        "created_at": workspace.created_at,
        "updated_at": workspace.updated_at,
        "last_opened_at": workspace.last_opened_at,
        "last_connection_at": workspace.last_connection_at,
        "auto_off_threshold": workspace.auto_off_threshold_ms,
        "use_container_vm": workspace.use_container_vm,
        "resource_pool_id": workspace.resource_pool_id,
    }


def for_api(workspaces) -> list[dict]:
    """Many workspaces in the v0 wire shape, with one query for `updating`."""
    workspaces = list(workspaces)
    busy = jobs.updating_ids(w.id for w in workspaces)
    return [serialize(w, w.id in busy) for w in workspaces]


def one_for_api(workspace: Workspace) -> dict:
    return for_api([workspace])[0]


# ---------------------------------------------------------------- visibility


def _manages_all(viewer: User) -> bool:
    return rbac.can(viewer, "workspaces:manage_others")


def _org_ids_read_all(viewer: User) -> list[str]:
    """Organizations where the viewer's organization role lets them see every workspace."""
    allowed = rbac.ORG_ACTIONS["workspaces:read_all"]
    rows = OrganizationMember.select().where(OrganizationMember.user == viewer.id)
    return [row.organization_id for row in rows if set(row.roles) & allowed]


def can_see(viewer: User, workspace: Workspace) -> bool:
    if workspace.user_id == viewer.id or _manages_all(viewer):
        return True
    return rbac.can_in_organization(viewer, workspace.organization_id, "workspaces:read_all")


def get_visible(viewer: User, workspace_id: str) -> Workspace:
    """The workspace, if the viewer may see it; 404 otherwise (never leak existence)."""
    if "\x00" in workspace_id:
        raise errors.NotFound()
    workspace = Workspace.get_or_none(Workspace.id == workspace_id)
    if workspace is None or not can_see(viewer, workspace):
        raise errors.NotFound()
    return workspace


def by_ssh_login(login: str) -> Workspace | None:
    """The one workspace an SSH login `<username>-<workspace>` names (case-insensitive), its
    `user` loaded; None when no workspace answers to it. Who may connect is the caller's
    decision: this only resolves the name."""
    if not login or "\x00" in login:
        return None
    return (
        Workspace.select(Workspace, User)
        .join(User)
        .where(Workspace.ssh_login == login.lower())
        .get_or_none()
    )


def _get_changeable(viewer: User, workspace_id: str) -> Workspace:
    workspace = get_visible(viewer, workspace_id)
    if workspace.user_id != viewer.id:
        rbac.require(viewer, "workspaces:manage_others")
    return workspace


def _split(values) -> list[str]:
    """Comma separated or repeated values; ones no id can match (NUL) are dropped."""
    out = []
    for value in values or ():
        out.extend(p.strip() for p in str(value).split(",") if p.strip() and "\x00" not in p)
    return out


def list_visible(
    viewer: User, users=(), orgs=(), limit: int | None = None, offset: int = 0
) -> Iterator[list[dict]]:
    """Workspaces the viewer may see, filtered by owners (ids, usernames, `me`) and orgs, oldest
    first, in batches (app.services.paging) of the v0 wire shape."""
    query = Workspace.select()
    if not _manages_all(viewer):
        readable = _org_ids_read_all(viewer)
        condition = Workspace.user == viewer.id
        if readable:
            condition |= Workspace.organization.in_(readable)
        query = query.where(condition)
    user_filters = _split(users)
    if user_filters:
        ids = []
        for identifier in user_filters:
            user = _find_user(identifier, viewer)
            if user is not None:
                ids.append(user.id)
        query = query.where(Workspace.user.in_(ids or [""]))
    org_filters = _split(orgs)
    if org_filters:
        ids = []
        for identifier in org_filters:
            try:
                ids.append(organizations.get(identifier).id)
            except errors.NotFound:
                continue
        query = query.where(Workspace.organization.in_(ids or [""]))
    pages = paging.batches(query, (Workspace.created_at, Workspace.id), limit=limit, offset=offset)
    return map(for_api, pages)


def _find_user(identifier: str, viewer: User) -> User | None:
    if identifier == "me":
        return viewer
    user = User.get_or_none(User.id == identifier)
    return user or User.get_or_none(User.username_key == identifier.lower())


# ---------------------------------------------------------------- config


def config() -> WorkspaceConfig:
    """The deployment's workspace settings (one row, created on first use)."""
    row = WorkspaceConfig.get_or_none(WorkspaceConfig.id == 1)
    if row is None:
        WorkspaceConfig.insert(id=1).on_conflict_ignore().execute()
        row = WorkspaceConfig.get_by_id(1)
    return row


GPU_VENDORS = ("", "nvidia", "amd")
# Settings the classic SDK knows whose `true` pycoderd cannot honour, and why (a 400 says so).
UNSUPPORTED_FEATURES = {
    "enable_container_vms": (
        "pycoderd runs workspaces as plain containers on Docker or Podman; container VMs "
        "(sysbox) are not available"
    ),
    "enable_workspaces_as_code": "pycoderd has no workspace templates (workspaces as code)",
    "enable_p2p": (
        "pycoderd has no peer-to-peer (WebRTC) networking; connect through the SSH gateway "
        "and dev URLs"
    ),
}


def config_for_api(row: WorkspaceConfig) -> dict:
    return {
        "auto_off_threshold": row.auto_off_threshold_ms,
        "max_cpu_cores": row.max_cpu_cores,
        "max_memory_gb": row.max_memory_gb,
        "max_disk_gb": row.max_disk_gb,
        "gpu_vendor": row.gpu_vendor,
        "enable_container_vms": row.enable_container_vms,
        "enable_workspaces_as_code": row.enable_workspaces_as_code,
        "enable_p2p": row.enable_p2p,
        "updated_at": row.updated_at,
    }


def _check_config(changes: dict) -> None:
    problems = [(name, why) for name, why in UNSUPPORTED_FEATURES.items() if changes.get(name)]
    if changes.get("gpu_vendor") not in (None, *GPU_VENDORS):
        problems.append(("gpu_vendor", 'must be "nvidia", "amd" or "" (none)'))
    if problems:
        raise errors.ValidationFailed(validations=problems)


def update_config(caller: Caller, changes: dict) -> dict:
    """Set the fields given; absent or null fields are unchanged (the classic SDK omits false
    and empty values)."""
    rbac.require(caller.user, "workspaces:manage_others")
    _check_config(changes)
    mapping = {"auto_off_threshold": "auto_off_threshold_ms"}
    with database.atomic():
        row = config()
        before = config_for_api(row)
        for field, value in changes.items():
            if value is not None:
                setattr(row, mapping.get(field, field), value)
        row.updated_at = utcnow()
        row.save()
        after = config_for_api(row)
        before.pop("updated_at"), after.pop("updated_at")
        audit.record(
            caller,
            action="write",
            resource_type=RESOURCE,
            resource_id="config",
            resource_target="workspaces config",
            changes=audit.diff(before, after),
        )
    return config_for_api(row)


def _check_limits(cfg: WorkspaceConfig, cpu: float, memory: float, disk: int) -> None:
    problems = []
    for field, value, cap in (
        ("cpu_cores", cpu, cfg.max_cpu_cores),
        ("memory_gb", memory, cfg.max_memory_gb),
        ("disk_gb", disk, cfg.max_disk_gb),
    ):
        if cap and value > cap:
            problems.append((field, f"must be at most {cap:g} (workspaces config)"))
    if problems:
        raise errors.ValidationFailed(validations=problems)


# ---------------------------------------------------------------- changes


def _image_for(viewer: User, image_id: str, organization_id: str) -> Image:
    image = Image.get_or_none(Image.id == image_id)
    if image is None or not rbac.can_in_organization(viewer, image.organization_id, "images:read"):
        raise errors.ValidationFailed(validations=[("image_id", "no such image")])
    if image.organization_id != organization_id:
        raise errors.ValidationFailed(
            validations=[("image_id", "the image belongs to another organization")]
        )
    if image.deprecated:
        raise errors.BadRequest(
            "The image is deprecated and takes no new workspaces.",
            validations=[("image_id", "the image is deprecated")],
        )
    return image


def _audit(caller: Caller, action: str, workspace: Workspace, changes=None, status=200) -> None:
    audit.record(
        caller,
        action=action,
        resource_type=RESOURCE,
        resource_id=workspace.id,
        resource_target=workspace.name,
        organization_id=workspace.organization_id,
        changes=changes,
        status_code=status,
    )


def _snapshot(workspace: Workspace) -> dict:
    return {
        "name": workspace.name,
        "image_id": workspace.image_id,
        "image_tag": workspace.image_tag,
        "cpu_cores": workspace.cpu_cores,
        "memory_gb": workspace.memory_gb,
        "disk_gb": workspace.disk_gb,
        "gpus": workspace.gpus,
    }


def create(
    caller: Caller,
    *,
    name: str,
    image_id: str,
    org_id: str | None = None,
    image_tag: str | None = None,
    cpu_cores: float = 0,
    memory_gb: float = 0,
    disk_gb: int = 0,
    gpus: int = 0,
    for_user_id: str | None = None,
    resource_pool_id: str | None = None,
    namespace: str | None = None,
) -> Workspace:
    """Create a workspace and queue its first build."""
    viewer = caller.user
    if not NAME_RE.match(name or ""):
        raise errors.ValidationFailed(validations=[("name", NAME_RULE)])
    owner = viewer
    if for_user_id and for_user_id not in ("me", viewer.id):
        rbac.require(viewer, "workspaces:manage_others")
        owner = _find_user(for_user_id, viewer)
        if owner is None:
            raise errors.ValidationFailed(validations=[("for_user_id", "no such user")])
    with database.atomic():
        if org_id:
            # Unknown and hidden organizations answer alike (404): never leak existence.
            organization = organizations.get_visible(viewer, org_id)
        else:
            image = Image.get_or_none(Image.id == image_id)
            seen = image is not None and rbac.can_in_organization(
                viewer, image.organization_id, "images:read"
            )
            # An unseen image is "no such image" (below), in the default organization's terms.
            organization = image.organization if seen else organizations.default_organization()
        if not rbac.can_in_organization(owner, organization.id, "workspaces:create"):
            raise errors.Forbidden("The workspace's owner is not a member of the organization.")
        image = _image_for(viewer, image_id, organization.id)
        pool_id = resource_pools.for_workspace(owner, organization.id, resource_pool_id, namespace)
        cpu_cores = cpu_cores or image.default_cpu_cores
        memory_gb = memory_gb or image.default_memory_gb
        disk_gb = disk_gb or image.default_disk_gb
        cfg = config()
        _check_limits(cfg, cpu_cores, memory_gb, disk_gb)
        if Workspace.get_or_none((Workspace.user == owner.id) & (Workspace.name == name)):
            raise errors.Conflict(f'A workspace named "{name}" already exists.')
        owner = addresses.lock_owner(owner.id)
        names = addresses.workspace_names(name, owner.username)
        addresses.check_workspace(names, "name")
        workspace = Workspace(
            name=name,
            **names,
            user=owner.id,
            organization=organization.id,
            image=image.id,
            image_tag=image_tag or image.default_tag or "latest",
            cpu_cores=cpu_cores,
            memory_gb=memory_gb,
            disk_gb=disk_gb,
            gpus=gpus or 0,
            auto_off_threshold_ms=cfg.auto_off_threshold_ms,
            resource_pool_id=pool_id,
            container_status="CREATING",
        )
        addresses.save_claiming(workspace, "name", force_insert=True)
        jobs.enqueue(workspace, "build", viewer.id)
        changes = audit.diff({}, {**_snapshot(workspace), "user_id": owner.id})
        _audit(caller, "create", workspace, changes, status=201)
    return workspace


def rebuild(caller: Caller, workspace_id: str, changes: dict) -> Workspace:
    """Apply the changes (None = unchanged) and queue a rebuild; `{}` rebuilds as is."""
    with database.atomic():
        workspace = _get_changeable(caller.user, workspace_id)
        before = _snapshot(workspace)
        changes = {k: v for k, v in changes.items() if v is not None}
        if "image_id" in changes and changes["image_id"] != workspace.image_id:
            image = _image_for(caller.user, changes["image_id"], workspace.organization_id)
            workspace.image = image.id
        if "image_tag" in changes:
            workspace.image_tag = changes["image_tag"]
        problems = []
        for field in ("cpu_cores", "memory_gb"):
            if field in changes:
                if changes[field] <= 0:
                    problems.append((field, "must be greater than 0"))
                setattr(workspace, field, changes[field])
        if "disk_gb" in changes:
            if changes["disk_gb"] < workspace.disk_gb:
                problems.append(
                    ("disk_gb", f"disks never shrink: must be at least {workspace.disk_gb}")
                )
            workspace.disk_gb = changes["disk_gb"]
        if "gpus" in changes:
            workspace.gpus = changes["gpus"]
        if problems:
            raise errors.ValidationFailed(validations=problems)
        _check_limits(config(), workspace.cpu_cores, workspace.memory_gb, workspace.disk_gb)
        workspace.container_status = "CREATING"
        workspace.updated_at = utcnow()
        workspace.save()
        jobs.enqueue(workspace, "build", caller.user.id)
        _audit(caller, "write", workspace, audit.diff(before, _snapshot(workspace)))
    return workspace


def stop(caller: Caller, workspace_id: str) -> Workspace:
    """Queue a stop of the workspace's container."""
    with database.atomic():
        workspace = _get_changeable(caller.user, workspace_id)
        jobs.enqueue(workspace, "stop", caller.user.id)
        _audit(caller, "stop", workspace)
    return workspace


def delete(caller: Caller, workspace_id: str) -> None:
    """Queue the removal of the container, the home volume and then the workspace itself."""
    with database.atomic():
        workspace = _get_changeable(caller.user, workspace_id)
        jobs.enqueue(workspace, "delete", caller.user.id)
        _audit(caller, "delete", workspace, audit.diff(_snapshot(workspace), {}))


# ---------------------------------------------------------------- build logs


def log_for_api(line: BuildLog) -> dict:
    return {
        "id": line.id,
        "workspace_id": line.workspace_id,
        "build_id": line.job_id,
        "time": line.time,
        "type": line.type,
        "msg": line.msg,
    }


def latest_build_logs(viewer: User, workspace_id: str) -> list[dict]:
    """Every log line of the workspace's latest build job (stop and delete jobs count too)."""
    get_visible(viewer, workspace_id)
    job = jobs.latest(workspace_id)
    if job is None:
        return []
    lines = []
    cursor = None
    while True:
        page = jobs.logs_after(job.id, cursor)
        lines.extend(page)
        if len(page) < 500:
            return [log_for_api(line) for line in lines]
        cursor = (page[-1].time, page[-1].id)


def follow_build_logs(viewer: User, workspace_id: str) -> Iterator[dict]:
    """Log lines of the latest build as they come, until it ends. Checks access up front."""
    get_visible(viewer, workspace_id)
    job = jobs.latest(workspace_id)
    return _follow(workspace_id, job.id if job is not None else None)


def _follow(workspace_id: str, job_id: str | None) -> Iterator[dict]:
    if job_id is None:
        return
    cursor = None
    deadline = time.monotonic() + FOLLOW_MAX_SECONDS
    while time.monotonic() < deadline:
        with database.connection_context():
            job = jobs.ProvisionerJob.get_or_none(jobs.ProvisionerJob.id == job_id)
            page = jobs.logs_after(job_id, cursor)
        for line in page:
            cursor = (line.time, line.id)
            yield log_for_api(line)
        if page:
            continue
        if job is None or job.status not in jobs.ACTIVE:
            return
        time.sleep(FOLLOW_POLL_SECONDS)
