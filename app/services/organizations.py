"""Organization rules: lookups (with `default` as an id), membership."""

from __future__ import annotations

from app import errors
from app.models import Organization, OrganizationMember


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
