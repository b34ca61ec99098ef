"""Resource pools (Coder classic's workspace providers): who sees them, their shape, placement.

A pool is one container engine. The built-in pool stands for the engine pycoderd is configured
with (CODER_DOCKER_HOST); site admins add others (app.services.resource_pool_admin). Addresses
come from the deployment's settings: `envproxy_access_url` is where clients reach `/proxy/...`
(wsep) and whose host `coder config-ssh` writes (a pool's own `hostname` when it has one),
`devurl_host` the wildcard host of dev URLs, `ssh_enabled` whether the SSH gateway runs
(CODER_SSH_ADDRESS): pycoderd itself serves every pool's workspaces. A workspace names its pool
by `resource_pool_id`.

Status: `ready` or `unreachable` as the background process's health check last found the
engine; before any check the built-in pool is `ready` with an engine configured and every pool
without one (or never checked) `pending`. Placement never picks a cordoned or unreachable pool.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from app import db, errors, rbac
from app.devurls import hosts
from app.models import OrganizationMember, User
from app.models.resource_pools import (
    BUILT_IN_ID,
    PENDING,
    READY,
    UNREACHABLE,
    ResourcePool,
    built_in,
)
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


def whitelist(pool: ResourcePool) -> list[str]:
    return json.loads(pool.org_whitelist or "[]")


def _may_use(viewer: User, pool: ResourcePool) -> bool:
    """Every pool without a whitelist; else members of a listed organization, and site
    managers and admins."""
    allowed = whitelist(pool)
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


def _takes(pool: ResourcePool, organization_id: str) -> bool:
    allowed = whitelist(pool)
    return not allowed or organization_id in allowed


def locked(query):
    """Rows read for placement or deletion stay put until the transaction ends (PostgreSQL;
    SQLite's transactions are serialised already)."""
    return query.for_update() if db.is_postgres() else query


def for_workspace(
    viewer: User, organization_id: str, pool_id: str | None, namespace: str | None
) -> str:
    """The pool a new workspace goes to: the one named, else the organization's default (the
    first ready, uncordoned pool that takes the organization; a never-checked one after the
    ready ones). A pool the owner may not use, one that does not take the organization or a
    namespace it does not have is a 400 naming the field; a cordoned or unreachable one, or no
    pool at all, a 409. Call inside the creating transaction."""
    built_in()
    if pool_id:
        try:
            pool = get_visible(viewer, pool_id)
        except errors.NotFound:
            raise errors.ValidationFailed(
                validations=[("resource_pool_id", "no such resource pool")]
            ) from None
        pool = locked(ResourcePool.select().where(ResourcePool.id == pool.id)).get()
        if not _takes(pool, organization_id):
            raise errors.ValidationFailed(
                validations=[
                    (
                        "resource_pool_id",
                        f'the resource pool "{pool.name}" does not take '
                        "workspaces of this organization",
                    )
                ]
            )
        refusal = _refusal(pool)
        if refusal:
            raise errors.Conflict(
                f'The resource pool "{pool.name}" takes no new workspaces: {refusal}.',
                detail="Choose another resource pool, or leave resource_pool_id out.",
            )
    else:
        candidates = [
            p
            for p in locked(
                ResourcePool.select().order_by(ResourcePool.created_at, ResourcePool.id)
            )
            if not _refusal(p) and _takes(p, organization_id)
        ]
        candidates.sort(key=lambda p: p.status != READY)  # stable: ready ones first, in order
        if not candidates:
            raise errors.Conflict(
                "No resource pool takes new workspaces of this organization: every one is "
                "cordoned, unreachable or not allowed for it.",
                detail="A site admin can uncordon a pool or add one (/api/private/resource-pools).",
            )
        pool = candidates[0]
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


def _refusal(pool: ResourcePool) -> str:
    """Why the pool takes no new workspace; empty when it does."""
    if pool.cordoned:
        return "it is cordoned" + (f" ({pool.cordon_reason})" if pool.cordon_reason else "")
    if pool.status == UNREACHABLE:
        return "its engine is unreachable"
    return ""


def status(pool: ResourcePool, deployment: Deployment) -> str:
    if pool.built_in and not deployment.engine_address:
        return PENDING
    if pool.status:
        return pool.status
    return READY if pool.built_in else PENDING


def for_api(pool: ResourcePool, deployment: Deployment, viewer: User) -> dict:
    """The pool in the classic CLI's shape (its KubernetesProvider), and pycoderd's fields."""
    admin = rbac.can(viewer, "deployment:read")
    address = deployment.engine_address if pool.built_in else pool.cluster_address
    return {
        "id": pool.id,
        "name": pool.name,
        "status": status(pool, deployment),
        "built_in": pool.built_in,
        "type": pool.engine_type,
        "hostname": pool.hostname,
        "cordoned": pool.cordoned,
        "cordon_reason": pool.cordon_reason,
        "status_error": pool.status_error if admin else "",
        "last_checked_at": pool.checked_at,
        "tls": bool(pool.tls_cert_encrypted or pool.tls_ca_encrypted),
        "envproxy_access_url": pool.hostname or deployment.access_url,
        "devurl_host": deployment.devurl_host,
        "org_whitelist": whitelist(pool),
        "enable_net_v2": False,
        "config": {
            "cluster_address": address if admin else "",
            "default_namespace": DEFAULT_NAMESPACE,
            "storage_class": "",
            "cluster_domain_suffix": "",
            "ssh_enabled": deployment.ssh_enabled,
        },
    }
