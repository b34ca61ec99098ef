"""Organization rules: lookups (with `default` as an id), visibility, changes, membership."""

from __future__ import annotations

from peewee import fn

from app import errors, rbac
from app.db import database
from app.models import Organization, OrganizationMember, User, Workspace
from app.models.base import utcnow
from app.models.organizations import ORGANIZATION_ROLES
from app.services import audit
from app.services.context import Caller

FIELDS = (
    "name",
    "description",
    "resource_namespace",
    "auto_off_threshold_ms",
    "cpu_provisioning_rate",
    "memory_provisioning_rate",
)


def default_organization() -> Organization:
    return Organization.get(Organization.is_default == True)  # noqa: E712


def get(org_id: str) -> Organization:
    """An organization by id, where the literal `default` names the default one."""
    if org_id == "default":
        return default_organization()
    organization = Organization.get_or_none(Organization.id == org_id)
    if organization is None:
        raise errors.NotFound()
    return organization


def add_member(organization: Organization, user, roles=()) -> OrganizationMember:
    member = OrganizationMember(organization=organization, user=user)
    member.roles = roles
    member.save(force_insert=True)
    return member


def _with_details(orgs: list[Organization]) -> list[Organization]:
    """Attach `members` (memberships with their users) and `workspace_count`, in two queries."""
    ids = [o.id for o in orgs]
    members: dict[str, list] = {i: [] for i in ids}
    counts: dict[str, int] = {}
    if ids:
        query = (
            OrganizationMember.select(OrganizationMember, User)
            .join(User)
            .where(OrganizationMember.organization.in_(ids))
            .order_by(OrganizationMember.created_at, User.username_key)
        )
        for member in query:
            members[member.organization_id].append(member)
        counts = dict(
            Workspace.select(Workspace.organization, fn.COUNT(Workspace.id))
            .where(Workspace.organization.in_(ids))
            .group_by(Workspace.organization)
            .tuples()
        )
    for org in orgs:
        org.members = members[org.id]
        org.workspace_count = counts.get(org.id, 0)
    return orgs


def can_see(viewer: User, organization: Organization) -> bool:
    return rbac.can_in_organization(viewer, organization.id, "organization:read")


def get_visible(viewer: User, org_id: str) -> Organization:
    """The organization if the viewer belongs to it or may read all (else 404)."""
    organization = get(org_id)
    if not can_see(viewer, organization):
        raise errors.NotFound()
    return organization


def detailed(organization: Organization) -> Organization:
    return _with_details([organization])[0]


def list_visible(viewer: User) -> list[Organization]:
    query = Organization.select().order_by(Organization.created_at, Organization.name)
    if not rbac.can(viewer, "organizations:read_all"):
        mine = OrganizationMember.select(OrganizationMember.organization).where(
            OrganizationMember.user == viewer.id
        )
        query = query.where(Organization.id.in_(mine))
    return _with_details(list(query))


def _problems(fields: dict) -> list[tuple[str, str]]:
    problems = []
    if "name" in fields and not (1 <= len(fields["name"].strip()) <= 64):
        problems.append(("name", "must be 1-64 characters"))
    if fields.get("auto_off_threshold_ms", 0) < 0:
        problems.append(("auto_off_threshold", "must not be negative"))
    for rate in ("cpu_provisioning_rate", "memory_provisioning_rate"):
        if rate in fields and not fields[rate] > 0:
            problems.append((rate, "must be greater than 0"))
    return problems


def _check_name(name: str, exclude: str | None = None) -> None:
    others = Organization.select().where(fn.LOWER(Organization.name) == name.strip().lower())
    if exclude is not None:
        others = others.where(Organization.id != exclude)
    if others.exists():
        raise errors.Conflict(f'An organization named "{name}" already exists.')


def _state(org: Organization) -> dict:
    return {field: getattr(org, field) for field in FIELDS} | {"default": org.is_default}


def _make_default(org: Organization) -> None:
    Organization.update(is_default=False).where(Organization.id != org.id).execute()
    org.is_default = True


def _users(user_ids) -> list[User]:
    found = {u.id: u for u in User.select().where(User.id.in_(list(user_ids)))}
    missing = [i for i in user_ids if i not in found]
    if missing:
        raise errors.ValidationFailed(
            validations=[("members", f'unknown user "{i}"') for i in missing]
        )
    return [found[i] for i in dict.fromkeys(user_ids)]


def create(caller: Caller, fields: dict) -> Organization:
    """A new organization (site admins and managers); the creator's `members` join it."""
    rbac.require(caller.user, "organizations:manage")
    fields = {k: v for k, v in fields.items() if v is not None}
    member_ids = fields.pop("members", [])
    make_default = fields.pop("default", False)
    problems = _problems({"name": fields.get("name", ""), **fields})
    if problems:
        raise errors.ValidationFailed(validations=problems)
    with database.atomic():
        _check_name(fields["name"])
        members = _users(member_ids)
        org = Organization(**{k: v for k, v in fields.items() if k in FIELDS})
        if make_default:
            _make_default(org)
        org.save(force_insert=True)
        for user in members:
            add_member(org, user)
        _record(caller, org, "create", {}, {**_state(org), "members": [u.id for u in members]}, 201)
    return detailed(org)


def update(caller: Caller, org: Organization, fields: dict) -> Organization:
    """Change an organization (its admins, site admins and managers); null = unchanged."""
    rbac.require_in_organization(caller.user, org.id, "organization:manage")
    fields = {k: v for k, v in fields.items() if v is not None}
    problems = _problems(fields)
    if fields.get("default") is False and org.is_default:
        problems.append(("default", "make another organization the default instead"))
    if fields.get("default") and not org.is_default:
        if not rbac.can(caller.user, "organizations:manage"):
            raise errors.Forbidden(
                "Only site admins and managers may choose the default organization."
            )
    if problems:
        raise errors.ValidationFailed(validations=problems)
    with database.atomic():
        org = Organization.get_by_id(org.id)
        before = _state(org)
        if "name" in fields:
            _check_name(fields["name"], exclude=org.id)
        for field in FIELDS:
            if field in fields:
                setattr(org, field, fields[field])
        if fields.get("default"):
            _make_default(org)
        org.updated_at = utcnow()
        org.save()
        _record(caller, org, "write", before, _state(org))
    return detailed(org)


def delete(caller: Caller, org: Organization) -> None:
    """Delete an empty, non-default organization (site admins and managers)."""
    rbac.require(caller.user, "organizations:manage")
    if org.is_default:
        raise errors.BadRequest("The default organization cannot be deleted.")
    with database.atomic():
        if Workspace.select().where(Workspace.organization == org.id).exists():
            raise errors.Conflict(
                "The organization still has workspaces. Delete or move them first."
            )
        before = _state(org)
        Organization.delete_by_id(org.id)
        _record(caller, org, "delete", before, {})


def members(org: Organization) -> list[OrganizationMember]:
    return detailed(org).members


def _check_roles(roles) -> None:
    unknown = [r for r in roles if r not in ORGANIZATION_ROLES]
    if unknown:
        raise errors.ValidationFailed(
            validations=[("roles", f'unknown organization role "{r}"') for r in unknown]
        )


def _membership(org: Organization, user_id: str) -> OrganizationMember:
    member = (
        OrganizationMember.select(OrganizationMember, User)
        .join(User)
        .where((OrganizationMember.organization == org.id) & (OrganizationMember.user == user_id))
        .get_or_none()
    )
    if member is None:
        raise errors.NotFound()
    return member


def _record(caller, org, action, before, after, status_code=200) -> None:
    audit.record(
        caller,
        action=action,
        resource_type="organization",
        resource_id=org.id,
        resource_target=org.name,
        organization_id=org.id,
        changes=audit.diff(before, after),
        status_code=status_code,
    )


def _require_may_grant(caller: Caller, org: Organization, *role_sets) -> None:
    """`organization-admin` is given, kept or taken only by the organization's admins (and site
    admins and managers): its managers manage every other membership."""
    if any(rbac.ORG_ADMIN in roles for roles in role_sets):
        rbac.require_in_organization(caller.user, org.id, "members:manage_admins")


def add(caller: Caller, org: Organization, user_id: str, roles) -> OrganizationMember:
    """Add a user to the organization: site admins and managers, who see every user."""
    rbac.require_in_organization(caller.user, org.id, "members:add")
    roles = roles or []
    _check_roles(roles)
    with database.atomic():
        user = _users([user_id])[0]
        if (
            OrganizationMember.select()
            .where(
                (OrganizationMember.organization == org.id) & (OrganizationMember.user == user.id)
            )
            .exists()
        ):
            raise errors.Conflict(f'"{user.username}" is already a member.')
        member = add_member(org, user, roles)
        _record(caller, org, "write", {}, {f"member:{user.username}": member.roles}, 201)
    return _membership(org, user.id)


def set_roles(caller: Caller, org: Organization, user_id: str, roles) -> OrganizationMember:
    rbac.require_in_organization(caller.user, org.id, "members:manage")
    _check_roles(roles)
    with database.atomic():
        member = _membership(org, user_id)
        before = member.roles
        _require_may_grant(caller, org, before, roles)
        member.roles = roles
        member.roles_updated_at = utcnow()
        member.save()
        key = f"member:{member.user.username}"
        _record(caller, org, "write", {key: before}, {key: member.roles})
    return member


def remove(caller: Caller, org: Organization, user_id: str) -> None:
    rbac.require_in_organization(caller.user, org.id, "members:manage")
    with database.atomic():
        member = _membership(org, user_id)
        _require_may_grant(caller, org, member.roles)
        if (
            Workspace.select()
            .where((Workspace.organization == org.id) & (Workspace.user == member.user_id))
            .exists()
        ):
            raise errors.Conflict("The member still has workspaces in this organization.")
        member.delete_instance()
        key = f"member:{member.user.username}"
        _record(caller, org, "write", {key: member.roles}, {})
