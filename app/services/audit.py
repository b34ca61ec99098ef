"""Audit entries, written inside the caller's transaction (SPEC §9)."""

from __future__ import annotations

import json

from app import prometheus
from app.db import database
from app.models import AuditLog
from app.services.context import Caller

SECRET_MASK = "******"
SECRET_FIELDS = frozenset(
    {"password", "password_hash", "hashed_secret", "secret", "private_key", "token", "key"}
)


def diff(old: dict, new: dict, secret_fields=SECRET_FIELDS) -> dict:
    """field -> {"old", "new"} for every field whose value changed; secrets masked."""
    changes = {}
    for field in sorted(set(old) | set(new)):
        before, after = old.get(field), new.get(field)
        if before == after:
            continue
        if field in secret_fields:
            before, after = SECRET_MASK if before else "", SECRET_MASK if after else ""
        changes[field] = {"old": before, "new": after}
    return changes


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
    return AuditLog.create(
        organization_id=organization_id,
        user_id=actor.id if actor is not None else None,
        username=actor.username if actor is not None else "",
        ip=caller.ip,
        user_agent=caller.user_agent[:1024],
        action=action,
        resource_type=resource_type,
        resource_id=str(resource_id),
        resource_target=str(resource_target)[:255],
        diff=json.dumps(changes or {}, default=str, sort_keys=True),
        status_code=status_code,
        request_id=caller.request_id,
    )
