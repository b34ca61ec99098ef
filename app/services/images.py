"""Image rules: import from a registry, edit, deprecate, tags, and refreshing their digests.

The registry is contacted outside any transaction (it may take seconds); the rows and the audit
entries are then written in one. `refresh_loop` is what the server's background process runs
to refresh every tag hourly.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import defaultdict

from app import errors, rbac
from app import registry as oci
from app.db import database
from app.models import Image, ImageTag, Registry, Workspace
from app.models.base import utcnow
from app.services import audit, registries, workspaces
from app.services.context import SYSTEM, Caller

log = logging.getLogger("pycoderd.images")

REFRESH_INTERVAL = 3600.0  # seconds
EDITABLE = (
    "description",
    "url",
    "default_cpu_cores",
    "default_memory_gb",
    "default_disk_gb",
    "deprecated",
    "default_tag",
)


# reading ------------------------------------------------------------------------------------


def _visible_workspaces(user, query):
    """Workspaces the user may see: all in organizations they manage, else their own."""
    everywhere = registries.visible_org_ids(user, "workspaces:read_all")
    if everywhere is None:
        return query
    return query.where((Workspace.user == user.id) | Workspace.organization.in_(list(everywhere)))


def _decorate(user, images: list[Image], with_workspaces: bool) -> list[Image]:
    """Attach tags, the default tag and (optionally) workspaces, in four queries in all."""
    if not images:
        return images
    ids = [image.id for image in images]
    tags = defaultdict(list)
    for tag in ImageTag.select().where(ImageTag.image.in_(ids)).order_by(ImageTag.tag):
        tags[tag.image_id].append(tag)
    registry_rows = {
        reg.id: reg
        for reg in Registry.select().where(Registry.id.in_({i.registry_id for i in images}))
    }
    by_image = defaultdict(list)
    if with_workspaces:
        query = Workspace.select().where(Workspace.image.in_(ids)).order_by(Workspace.created_at)
        # The workspaces API's own wire shape (with `updating`), in one more query.
        for workspace in workspaces.for_api(_visible_workspaces(user, query)):
            by_image[workspace["image_id"]].append(workspace)
    for image in images:
        image.registry_row = registry_rows.get(image.registry_id)
        image.tag_rows = tags[image.id]
        image.workspace_rows = by_image[image.id] if with_workspaces else None
        for tag in image.tag_rows:
            tag.workspace_rows = [w for w in by_image[image.id] if w["image_tag"] == tag.tag]
        image.default_tag_row = next(
            (tag for tag in image.tag_rows if tag.tag == image.default_tag), None
        )
    return images


def list_visible(user, org_id: str | None = None, with_workspaces: bool = True) -> list[Image]:
    query = Image.select().order_by(Image.created_at, Image.id)
    if org_id:
        organization = registries.organization_for(user, org_id, "images:read")
        query = query.where(Image.organization == organization.id)
    visible = registries.visible_org_ids(user, "images:read")
    if visible is not None:
        query = query.where(Image.organization.in_(list(visible)))
    return _decorate(user, list(query), with_workspaces)


def _get(user, image_id: str) -> Image:
    image = Image.get_or_none(Image.id == image_id)
    if image is None or not rbac.can_in_organization(user, image.organization_id, "images:read"):
        raise errors.NotFound()
    return image


def get_visible(user, image_id: str, with_workspaces: bool = True) -> Image:
    return _decorate(user, [_get(user, image_id)], with_workspaces)[0]


def list_tags(user, image_id: str) -> list[ImageTag]:
    return get_visible(user, image_id).tag_rows


def get_tag(user, image_id: str, tag: str) -> ImageTag:
    for row in get_visible(user, image_id).tag_rows:
        if row.tag == tag:
            return row
    raise errors.NotFound()


def os_release(tag: ImageTag) -> dict | None:
    return json.loads(tag.os_release) if tag.os_release else None


# talking to the registry ----------------------------------------------------------------------


def _inspect(registry_client: oci.Client, repository: str, tag: str) -> tuple[str, str | None]:
    """(digest, os_release JSON) of repository:tag; RegistryProblem (400) saying what failed."""
    try:
        digest = registry_client.manifest_digest(repository, tag)
        try:
            info = registry_client.os_release(repository, tag, digest)
        except oci.ManifestNotFound:
            raise
        except (oci.BadResponse, oci.Unreachable) as exc:
            log.warning("os-release of %s:%s not read: %s", repository, tag, exc)
            info = None
    except oci.RegistryError as exc:
        raise registries.problem(exc) from None
    return digest, json.dumps(info, sort_keys=True) if info is not None else None


def _check_repository_and_tag(repository: str, tag: str) -> None:
    problems = []
    if not oci.valid_repository(repository):
        problems.append(("repository", "must be a repository path such as team/image"))
    if not oci.valid_tag(tag):
        problems.append(("tag", "must be 1-128 letters, digits, '_', '.' or '-'"))
    if problems:
        raise errors.ValidationFailed(validations=problems)


def _conflict_if_imported(organization_id: str, registry_id: str | None, repository: str):
    if registry_id and Image.get_or_none(
        (Image.organization == organization_id)
        & (Image.registry == registry_id)
        & (Image.repository == repository)
    ):
        raise errors.Conflict(
            f'Image "{repository}" is already imported from this registry into this '
            "organization; add a tag to it instead."
        )


def _state(image: Image) -> dict:
    return {name: getattr(image, name) for name in ("repository", *EDITABLE)}


def _tag_state(tag: ImageTag) -> dict:
    return {"tag": tag.tag, "latest_hash": tag.latest_hash, "os_release": tag.os_release}


def import_image(caller: Caller, access: registries.Access, fields: dict) -> Image:
    """Import repository:tag from an existing registry (`registry_id`) or a new one."""
    user = caller.user
    organization = registries.organization_for(
        user, fields.get("org_id") or "default", "images:read"
    )
    rbac.require_in_organization(user, organization.id, "images:import")
    repository, tag = fields["repository"].strip(), (fields.get("tag") or "latest").strip()
    _check_repository_and_tag(repository, tag)
    new_registry = fields.get("new_registry")
    if new_registry is not None:
        rbac.require_in_organization(user, organization.id, "registries:manage")
        host = registries.check_host(new_registry.get("registry"), "new_registry.registry")
        new_registry = {**new_registry, "registry": host}
        registry_client = registries.client(
            access, host, new_registry.get("username") or "", new_registry.get("password") or ""
        )
        registry_row = None
    else:
        registry_row = Registry.get_or_none(Registry.id == fields.get("registry_id"))
        if registry_row is None or registry_row.organization_id != organization.id:
            raise errors.NotFound()
        _conflict_if_imported(organization.id, registry_row.id, repository)
        registry_client = registries.client_for(access, registry_row)
    with registry_client:
        digest, info = _inspect(registry_client, repository, tag)
    now = utcnow()
    with database.atomic():
        if registry_row is None:
            registry_row = registries.create(caller, access, organization, new_registry)
        _conflict_if_imported(organization.id, registry_row.id, repository)
        image = Image.create(
            organization=organization,
            registry=registry_row,
            repository=repository,
            description=fields.get("description") or "",
            url=fields.get("url") or "",
            default_tag=tag,
            **{
                name: fields[name]
                for name in ("default_cpu_cores", "default_memory_gb", "default_disk_gb")
                if fields.get(name) is not None
            },
        )
        row = ImageTag.create(
            image=image, tag=tag, latest_hash=digest, hash_last_updated_at=now, os_release=info
        )
        audit.record(
            caller,
            action="create",
            resource_type="image",
            resource_id=image.id,
            resource_target=f"{registry_row.registry}/{repository}",
            organization_id=organization.id,
            changes=audit.diff({}, _state(image)),
            status_code=201,
        )
        _record_tag(caller, image, row, "create", {}, status_code=201)
    return get_visible(user, image.id)


def _record_tag(caller, image, row, action, before, status_code=200) -> None:
    audit.record(
        caller,
        action=action,
        resource_type="image_tag",
        resource_id=row.id,
        resource_target=f"{image.repository}:{row.tag}",
        organization_id=image.organization_id,
        changes=audit.diff(before, _tag_state(row) if action != "delete" else {}),
        status_code=status_code,
    )


# changing -------------------------------------------------------------------------------------


def update(caller: Caller, image_id: str, fields: dict) -> Image:
    """Edit the baseline resources, description, url, default tag or deprecation."""
    image = _get(caller.user, image_id)
    rbac.require_in_organization(caller.user, image.organization_id, "images:manage")
    changes = {k: v for k, v in fields.items() if k in EDITABLE and v is not None}
    with database.atomic():
        if "default_tag" in changes and not ImageTag.get_or_none(
            (ImageTag.image == image.id) & (ImageTag.tag == changes["default_tag"])
        ):
            raise errors.ValidationFailed(
                validations=[("default_tag", "must be one of the image's tags; add it first")]
            )
        audit.write(
            caller,
            image,
            changes,
            state=_state,
            resource_type="image",
            target_field="repository",
        )
    return get_visible(caller.user, image.id)


def _in_use(image: Image, tag: str | None = None) -> int:
    query = Workspace.select().where(Workspace.image == image.id)
    if tag is not None:
        query = query.where(Workspace.image_tag == tag)
    return query.count()


def delete(caller: Caller, image_id: str) -> None:
    """Delete an image and its tags; 409 while workspaces use it."""
    image = _get(caller.user, image_id)
    rbac.require_in_organization(caller.user, image.organization_id, "images:manage")
    with database.atomic():
        count = _in_use(image)
        if count:
            raise errors.Conflict(
                f"{count} workspace(s) use this image; delete them or deprecate the image."
            )
        audit.record(
            caller,
            action="delete",
            resource_type="image",
            resource_id=image.id,
            resource_target=image.repository,
            organization_id=image.organization_id,
            changes=audit.diff(_state(image), {}),
        )
        ImageTag.delete().where(ImageTag.image == image.id).execute()
        image.delete_instance()


def add_tag(caller: Caller, access: registries.Access, image_id: str, tag: str) -> ImageTag:
    """Add a tag of the image's repository (read from the registry); 409 if already there."""
    image = _get(caller.user, image_id)
    rbac.require_in_organization(caller.user, image.organization_id, "images:import")
    tag = (tag or "").strip()
    _check_repository_and_tag(image.repository, tag)
    if ImageTag.get_or_none((ImageTag.image == image.id) & (ImageTag.tag == tag)):
        raise errors.Conflict(f'Tag "{tag}" is already part of this image.')
    with registries.client_for(access, Registry.get_by_id(image.registry_id)) as client:
        digest, info = _inspect(client, image.repository, tag)
    with database.atomic():
        if ImageTag.get_or_none((ImageTag.image == image.id) & (ImageTag.tag == tag)):
            raise errors.Conflict(f'Tag "{tag}" is already part of this image.')
        row = ImageTag.create(
            image=image, tag=tag, latest_hash=digest, hash_last_updated_at=utcnow(), os_release=info
        )
        _record_tag(caller, image, row, "create", {}, status_code=201)
    return get_tag(caller.user, image.id, tag)


def delete_tag(caller: Caller, image_id: str, tag: str) -> None:
    """Remove a tag; never the default one, nor one a workspace uses (409)."""
    image = _get(caller.user, image_id)
    rbac.require_in_organization(caller.user, image.organization_id, "images:manage")
    with database.atomic():
        row = ImageTag.get_or_none((ImageTag.image == image.id) & (ImageTag.tag == tag))
        if row is None:
            raise errors.NotFound()
        if row.tag == image.default_tag:
            raise errors.Conflict(
                f'"{tag}" is the image\'s default tag and cannot be removed; '
                "set another default_tag first."
            )
        count = _in_use(image, tag)
        if count:
            raise errors.Conflict(f'{count} workspace(s) use tag "{tag}"; it cannot be removed.')
        _record_tag(caller, image, row, "delete", _tag_state(row))
        row.delete_instance()


# refreshing -----------------------------------------------------------------------------------


def _refresh(caller: Caller, access: registries.Access, image: Image) -> int:
    """Re-read every tag's digest (and os-release when it moved); returns tags changed."""
    registry_row = Registry.get_by_id(image.registry_id)
    tags = list(ImageTag.select().where(ImageTag.image == image.id))
    found = {}
    with registries.client_for(access, registry_row) as client:
        for row in tags:
            try:
                digest = client.manifest_digest(image.repository, row.tag)
            except oci.ManifestNotFound:
                log.info("%s:%s is gone from %s", image.repository, row.tag, registry_row.registry)
                continue
            except oci.RegistryError as exc:
                raise registries.problem(exc) from None
            if digest != row.latest_hash:
                found[row.id] = _inspect(client, image.repository, row.tag)
            else:
                found[row.id] = (digest, row.os_release)
    now = utcnow()
    changed = 0
    with database.atomic():
        for row in tags:
            if row.id not in found:
                continue
            digest, info = found[row.id]
            before = _tag_state(row)
            row.hash_last_updated_at = now
            if digest != row.latest_hash:
                row.latest_hash, row.os_release, row.updated_at = digest, info, now
                changed += 1
                _record_tag(caller, image, row, "write", before)
            row.save()
    return changed


def refresh(caller: Caller, access: registries.Access, image_id: str) -> Image:
    """Refresh every tag's digest from the registry (`POST /images/{id}`)."""
    image = _get(caller.user, image_id)
    rbac.require_in_organization(caller.user, image.organization_id, "images:refresh")
    _refresh(caller, access, image)
    return get_visible(caller.user, image.id)


def refresh_all(access: registries.Access, caller: Caller = SYSTEM) -> dict:
    """Refresh every image that is not deprecated; one failing registry does not stop the rest."""
    counts = {"images": 0, "changed_tags": 0, "failed": 0}
    for image in list(Image.select().where(Image.deprecated == False)):  # noqa: E712
        try:
            counts["changed_tags"] += _refresh(caller, access, image)
            counts["images"] += 1
        except errors.APIError as exc:
            counts["failed"] += 1
            log.warning("refreshing image %s (%s) failed: %s", image.id, image.repository, exc)
    return counts


def start_refresh_thread(app, stop: threading.Event, interval: float = REFRESH_INTERVAL):
    """Start the hourly tag refresh in a daemon thread (a loop of the server's background
    process: app/provisioner/background.py LOOPS)."""
    thread = threading.Thread(
        target=refresh_loop,
        args=(registries.access(app.config), stop, interval),
        name="image-tag-refresh",
        daemon=True,
    )
    thread.start()
    return thread


def refresh_loop(
    access: registries.Access,
    stop: threading.Event,
    interval: float = REFRESH_INTERVAL,
) -> None:
    """Run refresh_all every `interval` seconds until `stop` is set (the server's background
    process starts this; each round opens and closes its own database connection)."""
    while not stop.wait(interval):
        try:
            with database.connection_context():
                counts = refresh_all(access)
            log.info("image tag refresh: %s", counts)
        except Exception:  # keep the loop alive; the next round retries
            log.exception("image tag refresh failed")
