"""One RBAC table: which site roles may take which action (SPEC §3)."""

from __future__ import annotations

from app import errors

ADMIN = "site-admin"
MANAGER = "site-manager"
AUDITOR = "site-auditor"
MEMBER = "site-member"

# action -> site roles allowed. Organization-scoped rules (members, org managers) are decided
# by the services with `in_organization`/`manages_organization` below.
SITE_ACTIONS: dict[str, frozenset] = {
    "deployment:read": frozenset({ADMIN}),
    "deployment_stats:read": frozenset({ADMIN}),
    "audit:read": frozenset({ADMIN, MANAGER, AUDITOR}),
    "metrics:read": frozenset({ADMIN, MANAGER, AUDITOR}),
    "users:read_all": frozenset({ADMIN, MANAGER}),
    "users:create": frozenset({ADMIN, MANAGER}),
    "users:update_others": frozenset({ADMIN, MANAGER}),
    "users:delete": frozenset({ADMIN, MANAGER}),
    "users:set_roles": frozenset({ADMIN}),
    "api_keys:create_for_others": frozenset({ADMIN, MANAGER}),
    "api_keys:manage_others": frozenset({ADMIN}),
    "organizations:read_all": frozenset({ADMIN, MANAGER}),
    "organizations:manage": frozenset({ADMIN, MANAGER}),
    "workspaces:manage_others": frozenset({ADMIN, MANAGER}),
    "images:manage_any": frozenset({ADMIN, MANAGER}),
    "registries:manage": frozenset({ADMIN, MANAGER}),
    "resource_pools:manage": frozenset({ADMIN}),
    "devurls:manage_others": frozenset({ADMIN, MANAGER}),
}


ORG_ADMIN = "organization-admin"
ORG_MANAGER = "organization-manager"
ORG_MEMBER = "organization-member"

# action -> organization roles allowed, inside one organization. Site admins and managers may
# take every organization action in every organization (SITE_OVERRIDES_ORG).
ORG_ACTIONS: dict[str, frozenset] = {
    "organization:read": frozenset({ORG_ADMIN, ORG_MANAGER, ORG_MEMBER}),
    "organization:manage": frozenset({ORG_ADMIN}),
    # Adding a user draws on every user of the deployment, whom only site admins and managers
    # see (SPEC §3: users and organizations are theirs): no organization role adds members.
    "members:add": frozenset(),
    "members:manage": frozenset({ORG_ADMIN, ORG_MANAGER}),
    # Granting or removing `organization-admin`, or changing or removing a member who holds it.
    "members:manage_admins": frozenset({ORG_ADMIN}),
    "images:read": frozenset({ORG_ADMIN, ORG_MANAGER, ORG_MEMBER}),
    "images:import": frozenset({ORG_ADMIN, ORG_MANAGER, ORG_MEMBER}),
    "images:refresh": frozenset({ORG_ADMIN, ORG_MANAGER, ORG_MEMBER}),
    "images:manage": frozenset({ORG_ADMIN, ORG_MANAGER}),
    "registries:read": frozenset({ORG_ADMIN, ORG_MANAGER, ORG_MEMBER}),
    "registries:manage": frozenset(),  # SPEC §3: site managers and admins only
    "workspaces:create": frozenset({ORG_ADMIN, ORG_MANAGER, ORG_MEMBER}),
    "workspaces:read_all": frozenset({ORG_ADMIN, ORG_MANAGER}),
}
SITE_OVERRIDES_ORG = frozenset({ADMIN, MANAGER})


# Token scopes, as coderd's: `all` reaches whatever its user may; `application_connect` reaches
# dev URLs (apps) only: the dev URL proxy, and the one API route that signs a browser in to a
# dev URL host. Every other API route answers 403 to it (scope -> endpoints; absent = all).
SCOPE_ENDPOINTS: dict[str, frozenset] = {
    "application_connect": frozenset({"v0_devurls.DevURLTicket"}),
}


def require_scope(scope: str, endpoint: str | None) -> None:
    """403 unless a token of this scope may reach this API endpoint."""
    allowed = SCOPE_ENDPOINTS.get(scope)
    if allowed is not None and endpoint not in allowed:
        raise errors.Forbidden(
            f'This token\'s scope "{scope}" reaches dev URLs (apps) only.',
            detail='Use a token of scope "all" for the API.',
        )


def organization_roles(user, organization_id: str) -> frozenset:
    """The user's roles in one organization (empty when not a member)."""
    from app.models import OrganizationMember

    if user is None:
        return frozenset()
    member = OrganizationMember.get_or_none(
        (OrganizationMember.organization == organization_id) & (OrganizationMember.user == user.id)
    )
    return frozenset(member.roles) if member is not None else frozenset()


def can_in_organization(user, organization_id: str, action: str) -> bool:
    """May the user take this organization-scoped action in this organization?"""
    if user is None:
        return False
    allowed = ORG_ACTIONS[action]
    if any(role in SITE_OVERRIDES_ORG for role in user.roles):
        return True
    return bool(organization_roles(user, organization_id) & allowed)


def require_in_organization(user, organization_id: str, action: str) -> None:
    """403 unless allowed; callers check visibility (`organization:read`) first for 404."""
    if not can_in_organization(user, organization_id, action):
        raise errors.Forbidden()


def can(user, action: str) -> bool:
    if user is None:
        return False
    allowed = SITE_ACTIONS[action]
    return any(role in allowed for role in user.roles)


def require(user, action: str) -> None:
    """Raise Forbidden (403) unless the user may take the action."""
    if not can(user, action):
        raise errors.Forbidden()


def permissions(user) -> frozenset:
    """Every site action the user's site roles allow (SITE_ACTIONS). Site admins and managers
    also hold every organization action (SITE_OVERRIDES_ORG), so organization roles never make
    a user outrank them."""
    roles = frozenset(user.roles)
    return frozenset(action for action, allowed in SITE_ACTIONS.items() if allowed & roles)


def acts_for(actor, target) -> bool:
    """May `actor` act on `target`'s credentials or account (keys, tokens, SSH key, password,
    status, roles, name, deletion)? Always on yourself; on another user only when holding every
    permission they hold: site admin > site manager > site auditor > member, so a manager acts
    on members, auditors and other managers, never on a site admin."""
    if actor is None:
        return False
    return actor.id == target.id or permissions(target) <= permissions(actor)


def require_acts_for(actor, target, action: str) -> None:
    """The one check of every route that acts on another user: the action's roles
    (SITE_ACTIONS) and `acts_for`; 403 otherwise. Callers resolve the target's visibility (404)
    first."""
    if actor is not None and actor.id == target.id:
        return
    require(actor, action)
    if not acts_for(actor, target):
        raise errors.Forbidden(
            "You may not act on a user holding permissions you do not hold.",
            detail=f'"{target.username}" holds site roles beyond yours.',
        )


def require_visible(user, action: str) -> None:
    """Raise NotFound (404) unless the user may see the object: never leak existence."""
    if not can(user, action):
        raise errors.NotFound()
