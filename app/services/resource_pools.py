"""Resource pools (Coder classic's workspace providers), as the classic CLI reads them.

One pool exists: the built-in one, standing for the container engine pycoderd is configured
with. Its addresses come from the deployment's settings: `envproxy_access_url` is where clients
reach `/proxy/...` (wsep) and whose host `coder config-ssh` writes, `devurl_host` the wildcard
host of dev URLs, `ssh_enabled` whether the SSH gateway runs (CODER_SSH_ADDRESS). The pool is
`ready` when an engine is configured, `pending` otherwise. A workspace names its pool by
`resource_pool_id`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from app import errors, rbac
from app.devurls import hosts
from app.models import OrganizationMember, User
from app.models.base import utcnow
from app.models.resource_pools import BUILT_IN_ID, BUILT_IN_NAME, ResourcePool
from app.provisioner import engine

# The built-in pool has no namespaces (it is not a Kubernetes cluster); this is the one it
# reports, and the one a create request may name.
DEFAULT_NAMESPACE = "default"


@dataclass(frozen=True)
class Deployment:
    """What the built-in pool reports of the deployment."""

    access_url: str  # the access URL, or the URL the request came in on when none is set
    devurl_host: str  # `*.apps.example.com`, or empty without a wildcard access URL
    ssh_enabled: bool
    engine_address: str  # the container engine's API address; shown to site admins only


def deployment_of(settings, request_root: str) -> Deployment:
    wildcard = hosts.Wildcard.from_settings(settings)
    return Deployment(
        access_url=(settings["access_url"] or request_root).rstrip("/"),
        devurl_host=f"*.{wildcard.suffix}{wildcard.port}" if wildcard is not None else "",
        ssh_enabled=bool(settings["pycoderd.ssh_address"]),
        engine_address=engine.docker_host(settings),
    )


def built_in() -> ResourcePool:
    """The built-in pool (the migration creates it; a database without it gets it back)."""
    pool = ResourcePool.get_or_none(ResourcePool.id == BUILT_IN_ID)
    if pool is None:
        now = utcnow()
        ResourcePool.insert(
            id=BUILT_IN_ID, name=BUILT_IN_NAME, built_in=True, created_at=now, updated_at=now
        ).on_conflict_ignore().execute()
        pool = ResourcePool.get_by_id(BUILT_IN_ID)
    return pool


def _whitelist(pool: ResourcePool) -> list[str]:
    return json.loads(pool.org_whitelist or "[]")


def _may_use(viewer: User, pool: ResourcePool) -> bool:
    """Every pool without a whitelist; else members of a listed organization, and site
    managers and admins."""
    allowed = _whitelist(pool)
    if not allowed or rbac.can(viewer, "organizations:read_all"):
        return True
    return (
        OrganizationMember.select()
        .where(
            (OrganizationMember.user == viewer.id) & (OrganizationMember.organization.in_(allowed))
        )
        .exists()
    )


def list_visible(viewer: User) -> list[ResourcePool]:
    built_in()
    pools = ResourcePool.select().order_by(ResourcePool.created_at, ResourcePool.id)
    return [pool for pool in pools if _may_use(viewer, pool)]


def get_visible(viewer: User, pool_id: str) -> ResourcePool:
    """The pool, if the viewer may use it; 404 otherwise."""
    if pool_id == BUILT_IN_ID:
        pool = built_in()
    else:
        pool = (
            ResourcePool.get_or_none(ResourcePool.id == pool_id) if "\x00" not in pool_id else None
        )
    if pool is None or not _may_use(viewer, pool):
        raise errors.NotFound()
    return pool


def for_workspace(viewer: User, pool_id: str | None, namespace: str | None) -> str:
    """The pool a new workspace goes to (the built-in one when none is named); a pool the
    owner may not use or a namespace it does not have is a 400 naming the field."""
    if not pool_id:
        pool = built_in()
    else:
        try:
            pool = get_visible(viewer, pool_id)
        except errors.NotFound:
            raise errors.ValidationFailed(
                validations=[("resource_pool_id", "no such resource pool")]
            ) from None
    if namespace and namespace != DEFAULT_NAMESPACE:
        raise errors.ValidationFailed(
            validations=[
                (
                    "namespace",
                    f'the resource pool "{pool.name}" has one namespace: "{DEFAULT_NAMESPACE}" '
                    "(or leave it out)",
                )
            ]
        )
    return pool.id


def for_api(pool: ResourcePool, deployment: Deployment, viewer: User) -> dict:
    """The pool in the classic CLI's shape (its KubernetesProvider)."""
    return {
        "id": pool.id,
        "name": pool.name,
        "status": "ready" if deployment.engine_address else "pending",
        "built_in": pool.built_in,
        "envproxy_access_url": deployment.access_url,
        "devurl_host": deployment.devurl_host,
        "org_whitelist": _whitelist(pool),
        "enable_net_v2": False,
        "config": {
            "cluster_address": (
                deployment.engine_address if rbac.can(viewer, "deployment:read") else ""
            ),
            "default_namespace": DEFAULT_NAMESPACE,
            "storage_class": "",
            "cluster_domain_suffix": "",
            "ssh_enabled": deployment.ssh_enabled,
        },
    }
