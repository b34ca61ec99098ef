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
    "devurls:manage_others": frozenset({ADMIN, MANAGER}),
}


def can(user, action: str) -> bool:
    if user is None:
        return False
    allowed = SITE_ACTIONS[action]
    return any(role in allowed for role in user.roles)


def require(user, action: str) -> None:
    """Raise Forbidden (403) unless the user may take the action."""
    if not can(user, action):
        raise errors.Forbidden()


def require_visible(user, action: str) -> None:
    """Raise NotFound (404) unless the user may see the object: never leak existence."""
    if not can(user, action):
        raise errors.NotFound()
