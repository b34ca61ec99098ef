"""Audit entries, written inside the caller's transaction (SPEC §9)."""

from __future__ import annotations

import contextvars
import json
import logging
from collections.abc import Callable, Mapping

import peewee

from app import prometheus
from app.db import database
from app.models import AuditLog
from app.models.base import utcnow
from app.services.context import Caller

SECRET_MASK = "******"
SECRET_FIELDS = frozenset(
    {"password", "password_hash", "hashed_secret", "secret", "private_key", "token", "key"}
)
# Field names ending so are secrets too (`new_password`, `password_encrypted`, ...); digests
# such as `latest_hash` are not.
SECRET_SUFFIXES = ("password", "secret", "_token", "private_key", "_encrypted")

# The vocabulary of entries (SPEC §9); GET /api/v0/audit accepts these as filters.
ACTIONS = frozenset(
    {
        "create",
        "write",
        "delete",
        "start",
        "stop",
        "login",
        "logout",
        "register",
        "regenerate",
        "connect",
    }
)
RESOURCE_TYPES = frozenset(
    {
        "environment",
        "image",
        "image_tag",
        "registry",
        "user",
        "organization",
        "api_key",
        "devurl",
        "resource_pool",
    }
)
RESOURCE_TYPE_ALIASES = {"workspace": "environment"}

log = logging.getLogger("pycoderd.audit")

# The entries written while a request is served, as (id, status written), until its response
# is made: only then is the status the client gets known (see `settle_statuses`).
_unsettled: contextvars.ContextVar[list | None] = contextvars.ContextVar(
    "audit_unsettled", default=None
)


def is_secret(field: str, secret_fields=SECRET_FIELDS) -> bool:
    name = str(field).lower()
    return name in secret_fields or name.endswith(SECRET_SUFFIXES)


def _masked(value, secret_fields):
    """`value` with every secret-named field inside it (dicts, lists) masked."""
    if isinstance(value, dict):
        return {
            key: (SECRET_MASK if item else "")
            if is_secret(key, secret_fields)
            else _masked(item, secret_fields)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_masked(item, secret_fields) for item in value]
    return value


def diff(old: dict, new: dict, secret_fields=SECRET_FIELDS) -> dict:
    """field -> {"old", "new"} for every field whose value changed; secrets masked.

    A field is secret when `is_secret` says so, at any depth (e.g. `new_registry.password`).
    """
    changes = {}
    for field in sorted(set(old) | set(new)):
        before, after = old.get(field), new.get(field)
        if before == after:
            continue
        if is_secret(field, secret_fields):
            before, after = SECRET_MASK if before else "", SECRET_MASK if after else ""
        else:
            before, after = _masked(before, secret_fields), _masked(after, secret_fields)
        changes[field] = {"old": before, "new": after}
    return changes


def canonical_resource_type(resource_type: str) -> str:
    """`workspace` is stored (and filtered) as `environment`, Coder's classic name."""
    return RESOURCE_TYPE_ALIASES.get(resource_type, resource_type)


def record(
    caller: Caller,
    *,
    action: str,
    resource_type: str,
    resource_id: str = "",
    resource_target: str = "",
    organization_id: str | None = None,
    changes: dict | None = None,
    status_code: int = 200,
    user=None,
) -> AuditLog:
    """Write one audit entry. Call it inside the transaction that makes the change."""
    if not database.in_transaction():
        raise RuntimeError("audit.record must run inside the change's transaction")
    actor = user if user is not None else caller.user
    prometheus.count_audit_write(action, resource_type)
    entry = AuditLog.create(
        organization_id=organization_id,
        user_id=actor.id if actor is not None else None,
        username=actor.username if actor is not None else "",
        ip=caller.ip,
        user_agent=caller.user_agent[:1024],
        action=action,
        resource_type=canonical_resource_type(resource_type),
        resource_id=str(resource_id),
        resource_target=str(resource_target)[:255],
        diff=json.dumps(changes or {}, default=str, sort_keys=True),
        status_code=status_code,
        request_id=caller.request_id,
    )
    unsettled = _unsettled.get()
    if unsettled is not None:
        unsettled.append((entry.id, status_code))
    return entry


def begin_request() -> None:
    """A request begins: its entries wait for `settle_statuses`."""
    _unsettled.set([])


def settle_statuses(status: int) -> None:
    """The request's response is made: its entries record the status it carries (a service's
    `status_code` is its guess, e.g. 200 for a DELETE answered 204). Entries of transactions
    rolled back are gone, and updating them changes nothing."""
    unsettled = _unsettled.get()
    _unsettled.set(None)
    stale = [entry_id for entry_id, written in unsettled or () if written != status]
    if not stale:
        return
    try:
        with database.atomic():
            AuditLog.update(status_code=status).where(AuditLog.id.in_(stale)).execute()
    except peewee.PeeweeException:  # the answer stands; the entries keep the service's status
        log.exception("could not record status %s on audit entries %s", status, stale)


def write(
    caller: Caller,
    row,
    values: Mapping[str, object],
    *,
    state: Callable[[object], dict],
    resource_type: str,
    target_field: str,
    record_unchanged: bool = False,
) -> dict:
    """Set `values` on `row`; if that changes its `state`, save it with a new `updated_at` and
    write one `write` entry (resource target: the row's `target_field` afterwards). Returns the
    diff. `record_unchanged` saves and records even an empty diff. Call it inside the change's
    transaction; `row` needs `id`, `organization_id` and `updated_at`.
    """
    before = state(row)
    for name, value in values.items():
        setattr(row, name, value)
    changes = diff(before, state(row))
    if changes or record_unchanged:
        row.updated_at = utcnow()
        row.save()
        record(
            caller,
            action="write",
            resource_type=resource_type,
            resource_id=row.id,
            resource_target=getattr(row, target_field),
            organization_id=row.organization_id,
            changes=changes,
        )
    return changes
