"""Site admins' changes to resource pools: add, edit, cordon, uncordon, delete; each audited.

A new pool is one container engine (`type: "docker"`: the Docker Engine API, which Podman
serves too) at `cluster_address` (app.provisioner.endpoints says which addresses are allowed),
with TLS client material of pycoderd's own fields, stored encrypted (app.crypto) and never
returned. Its engine is checked once when it is added or its address changes (status `ready`
or `unreachable`, no audit entry: the check is the system's); the background process keeps
checking it. The built-in pool's engine is CODER_DOCKER_HOST: its address cannot be edited,
and it cannot be deleted. A pool with workspaces cannot be deleted (409).
"""

from __future__ import annotations

import json
import os
import ssl
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from peewee import IntegrityError

from app import crypto, errors, rbac
from app.db import database
from app.models import Organization, ResourcePool, Workspace
from app.models.base import utcnow
from app.provisioner import endpoints, pools
from app.services import audit, resource_pools
from app.services.context import Caller

RESOURCE = "resource_pool"
TLS_FIELDS = {  # request field -> column
    "tls_ca_cert": "tls_ca_encrypted",
    "tls_client_cert": "tls_cert_encrypted",
    "tls_client_key": "tls_key_encrypted",
}
MAX_PEM = 64 * 1024


@dataclass(frozen=True)
class Access:
    """What checking and contacting engines needs: the settings and the at-rest key."""

    settings: Mapping
    secret_key: str


def access(config: Mapping) -> Access:
    return Access(settings=config["SETTINGS"], secret_key=config["SECRET_KEY"])


def state(pool: ResourcePool) -> dict:
    return {
        "name": pool.name,
        "type": pool.engine_type,
        "hostname": pool.hostname,
        "cluster_address": pool.cluster_address,
        "org_whitelist": resource_pools.whitelist(pool),
        "cordoned": pool.cordoned,
        "cordon_reason": pool.cordon_reason,
        **{column: getattr(pool, column) for column in TLS_FIELDS.values()},
    }


def _managed(caller: Caller, pool_id: str) -> ResourcePool:
    """The pool (404 unless visible), if the caller may change pools (403 otherwise)."""
    pool = resource_pools.get_visible(caller.user, pool_id)
    rbac.require(caller.user, "resource_pools:manage")
    return pool


def _record(caller: Caller, action: str, pool: ResourcePool, changes: dict, status=200) -> None:
    audit.record(
        caller,
        action=action,
        resource_type=RESOURCE,
        resource_id=pool.id,
        resource_target=pool.name,
        changes=changes,
        status_code=status,
    )


def create(caller: Caller, access_: Access, fields: dict) -> ResourcePool:
    rbac.require(caller.user, "resource_pools:manage")
    resource_pools.built_in()  # there first, whatever the database went through
    values = _values(access_, fields, pool=None)
    now = utcnow()
    try:
        with database.atomic():
            pool = ResourcePool.create(created_at=now, updated_at=now, **values)
            _record(caller, "create", pool, audit.diff({}, state(pool)), status=201)
    except IntegrityError:
        raise _name_taken(values["name"]) from None
    return check_now(access_, pool)


def update(caller: Caller, access_: Access, pool_id: str, fields: dict) -> ResourcePool:
    pool = _managed(caller, pool_id)
    fields = {k: v for k, v in fields.items() if v is not None}
    if pool.built_in and ({"cluster_address", *TLS_FIELDS} & set(fields)):
        raise errors.ValidationFailed(
            validations=[
                (
                    "cluster_address",
                    "the built-in pool's engine is CODER_DOCKER_HOST: set it in the "
                    "deployment's configuration",
                )
            ]
        )
    values = _values(access_, fields, pool=pool)
    readdressed = "cluster_address" in values or set(TLS_FIELDS.values()) & set(values)
    try:
        with database.atomic():
            pool = ResourcePool.get_by_id(pool.id)
            before = state(pool)
            for name, value in values.items():
                setattr(pool, name, value)
            changes = audit.diff(before, state(pool))
            pool.updated_at = utcnow()
            pool.save()
            _record(caller, "write", pool, changes)
    except IntegrityError:
        raise _name_taken(values["name"]) from None
    return check_now(access_, pool) if readdressed else pool


def set_cordon(caller: Caller, pool_id: str, cordoned: bool, reason: str = "") -> ResourcePool:
    """Cordon (no new workspace is placed on it; those there keep running, rebuilding and
    stopping) or uncordon a pool."""
    pool = _managed(caller, pool_id)
    reason = (reason or "").strip() if cordoned else ""
    if len(reason) > 1024 or "\x00" in reason:
        raise errors.ValidationFailed(validations=[("reason", "at most 1024 characters")])
    with database.atomic():
        pool = ResourcePool.get_by_id(pool.id)
        before = state(pool)
        pool.cordoned, pool.cordon_reason = cordoned, reason
        # Not updated_at: the engine client cached for the pool stays valid.
        ResourcePool.update(cordoned=cordoned, cordon_reason=reason).where(
            ResourcePool.id == pool.id
        ).execute()
        _record(caller, "write", pool, audit.diff(before, state(pool)))
    return pool


def delete(caller: Caller, pool_id: str) -> None:
    pool = _managed(caller, pool_id)
    if pool.built_in:
        raise errors.Conflict("The built-in resource pool cannot be deleted.")
    with database.atomic():
        pool = resource_pools.locked(ResourcePool.select().where(ResourcePool.id == pool.id)).get()
        count = Workspace.select().where(Workspace.resource_pool_id == pool.id).count()
        if count:
            raise errors.Conflict(
                f'The resource pool "{pool.name}" has {count} workspace(s); delete them first.',
                detail="Cordon it to stop new workspaces from being placed on it.",
            )
        _record(caller, "delete", pool, audit.diff(state(pool), {}))
        pool.delete_instance()
    pools.forget(pool.id)


def check_now(access_: Access, pool: ResourcePool) -> ResourcePool:
    """Check the pool's engine once (as the health check does) and return the pool as saved."""
    pools.check_health(access_.settings, access_.secret_key, pool)
    return ResourcePool.get_by_id(pool.id)


# --- validation ----------------------------------------------------------------------------


def _values(access_: Access, fields: dict, pool: ResourcePool | None) -> dict:
    """Columns from a create (pool None) or edit body; 400 naming the field otherwise."""
    values: dict = {}
    if "name" in fields:
        values["name"] = _name(fields["name"])
    if "type" in fields and fields["type"] != "docker":
        raise errors.ValidationFailed(
            validations=[
                (
                    "type",
                    'pycoderd\'s pools are container engines: "docker" (the Docker Engine API, '
                    "which Podman serves too)",
                )
            ]
        )
    if "hostname" in fields:
        values["hostname"] = _hostname(fields["hostname"])
    if "cluster_address" in fields:
        try:
            endpoint = endpoints.parse(fields["cluster_address"])
            endpoints.check(endpoint, pools.allowed_hosts(access_.settings))
        except endpoints.Refused as exc:
            raise errors.ValidationFailed(validations=[("cluster_address", str(exc))]) from None
        values["cluster_address"] = endpoint.url
    if "org_whitelist" in fields:
        values["org_whitelist"] = _whitelist(fields["org_whitelist"])
    for field, column in TLS_FIELDS.items():
        if field in fields:
            text = fields[field].strip()
            values[column] = crypto.encrypt(access_.secret_key, text) if text else ""
    _check_tls(access_, fields, values, pool)
    return values


def _name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 64 or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise errors.ValidationFailed(
            validations=[("name", "1 to 64 characters, no control characters")]
        )
    return name


def _name_taken(name: str) -> errors.Conflict:
    return errors.Conflict(
        f'A resource pool named "{name}" already exists.',
        validations=[("name", "another resource pool has this name")],
    )


def _hostname(hostname: str) -> str:
    """Where clients reach this pool's workspaces (wsep, SSH): an http(s) URL of pycoderd."""
    hostname = (hostname or "").strip()
    if not hostname:
        return ""
    try:
        parts = urlsplit(hostname)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.username is not None
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or len(hostname) > 1024
    ):
        raise errors.ValidationFailed(
            validations=[
                (
                    "hostname",
                    "an http(s) URL where clients reach pycoderd for this pool's workspaces, "
                    "e.g. https://pool-a.coder.example.com (no path)",
                )
            ]
        )
    return hostname.rstrip("/")


def _whitelist(ids) -> str:
    ids = [str(i) for i in ids or []]
    known = {o.id for o in Organization.select(Organization.id).where(Organization.id.in_(ids))}
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise errors.ValidationFailed(
            validations=[("org_whitelist", f"no such organization: {unknown[0][:64]}")]
        )
    return json.dumps(sorted(set(ids)))


def _check_tls(access_: Access, fields: dict, values: dict, pool: ResourcePool | None) -> None:
    """TLS material only for tcp:// engines; a client certificate with its key; PEM that
    Python's ssl module loads."""
    given = {f: fields[f].strip() for f in TLS_FIELDS if f in fields and fields[f].strip()}
    if not given:
        return
    address = values.get("cluster_address") or (pool.cluster_address if pool else "")
    if not address.startswith("tcp://"):
        raise errors.ValidationFailed(
            validations=[(next(iter(given)), "TLS material is for tcp:// engine addresses")]
        )
    for field, text in given.items():
        if len(text) > MAX_PEM or "-----BEGIN " not in text:
            raise errors.ValidationFailed(validations=[(field, "a PEM text")])
    if "tls_ca_cert" in given:
        try:
            ssl.create_default_context(cadata=given["tls_ca_cert"])
        except (ssl.SSLError, ValueError):
            raise errors.ValidationFailed(
                validations=[("tls_ca_cert", "not a PEM CA certificate")]
            ) from None
    cert, key = given.get("tls_client_cert"), given.get("tls_client_key")
    if cert or key:
        if not (cert and key):
            field = "tls_client_key" if cert else "tls_client_cert"
            raise errors.ValidationFailed(
                validations=[(field, "a client certificate and its key go together")]
            )
        _check_pair(cert, key)


def _check_pair(cert: str, key: str) -> None:
    with tempfile.TemporaryDirectory(prefix="pycoderd-tls-check-") as folder:
        paths = []
        for name, text in (("cert.pem", cert), ("key.pem", key)):
            path = os.path.join(folder, name)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(text)
            paths.append(path)
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_cert_chain(*paths)
        except (ssl.SSLError, ValueError):
            raise errors.ValidationFailed(
                validations=[
                    ("tls_client_key", "not a PEM certificate and the key that matches it")
                ]
            ) from None
