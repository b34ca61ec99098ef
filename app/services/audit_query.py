"""Reading the audit log: filtered newest-first pages and keyset-paginated NDJSON exports."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from peewee import Tuple

from app import errors, rbac
from app.db import database
from app.models import AuditLog
from app.services import audit

MAX_LIMIT = 1000
DEFAULT_LIMIT = 50
EXPORT_BATCH = 1000
MAX_TIMESTAMP = 253402300799  # 9999-12-31T23:59:59Z, the last second a datetime can hold

COLUMNS = (
    AuditLog.id,
    AuditLog.time,
    AuditLog.organization_id,
    AuditLog.user_id,
    AuditLog.username,
    AuditLog.ip,
    AuditLog.user_agent,
    AuditLog.action,
    AuditLog.resource_type,
    AuditLog.resource_id,
    AuditLog.resource_target,
    AuditLog.diff,
    AuditLog.status_code,
    AuditLog.request_id,
)


@dataclass(frozen=True)
class Filters:
    resource_id: str | None = None
    resource_type: str | None = None
    action: str | None = None
    user_id: str | None = None
    range_start: int | None = None  # Unix seconds, inclusive
    range_end: int | None = None  # Unix seconds, exclusive


def check(filters: Filters, viewer=None) -> Filters:
    """Validate and normalise the filters; 400 naming each offending parameter."""
    problems = []
    resource_type = filters.resource_type
    if resource_type is not None:
        resource_type = audit.canonical_resource_type(resource_type)
        if resource_type not in audit.RESOURCE_TYPES:
            known = ", ".join(sorted(audit.RESOURCE_TYPES | set(audit.RESOURCE_TYPE_ALIASES)))
            problems.append(("resource_type", f"must be one of: {known}"))
    if filters.action is not None and filters.action not in audit.ACTIONS:
        problems.append(("action", f"must be one of: {', '.join(sorted(audit.ACTIONS))}"))
    user_id = filters.user_id
    if user_id == "me" and viewer is not None:
        user_id = viewer.id
    elif user_id is not None and not _is_uuid(user_id):
        problems.append(("user_id", "must be a user id (UUID) or me"))
    for name in ("range_start", "range_end"):
        value = getattr(filters, name)
        if value is not None and not 0 <= value <= MAX_TIMESTAMP:
            problems.append((name, f"must be Unix seconds between 0 and {MAX_TIMESTAMP}"))
    if (
        filters.range_start is not None
        and filters.range_end is not None
        and filters.range_end <= filters.range_start
    ):
        problems.append(("range_end", "must be after range_start"))
    if problems:
        raise errors.ValidationFailed(validations=problems)
    return Filters(
        resource_id=filters.resource_id,
        resource_type=resource_type,
        action=filters.action,
        user_id=user_id,
        range_start=filters.range_start,
        range_end=filters.range_end,
    )


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _from_unix(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).replace(tzinfo=None)


def _where(filters: Filters) -> list:
    conditions = []
    if filters.resource_id is not None:
        conditions.append(AuditLog.resource_id == filters.resource_id)
    if filters.resource_type is not None:
        conditions.append(AuditLog.resource_type == filters.resource_type)
    if filters.action is not None:
        conditions.append(AuditLog.action == filters.action)
    if filters.user_id is not None:
        conditions.append(AuditLog.user_id == filters.user_id)
    if filters.range_start is not None:
        conditions.append(AuditLog.time >= _from_unix(filters.range_start))
    if filters.range_end is not None:
        conditions.append(AuditLog.time < _from_unix(filters.range_end))
    return conditions


def _query(filters: Filters, limit: int):
    query = AuditLog.select(*COLUMNS)
    for condition in _where(filters):
        query = query.where(condition)
    return query.order_by(AuditLog.time.desc(), AuditLog.id.desc()).limit(limit)


def _after(query, after: tuple):
    """Only entries older than `after` = (time, id) in the newest-first order."""
    return query.where(Tuple(AuditLog.time, AuditLog.id) < Tuple(*after))


def as_entry(row: dict) -> dict:
    """A stored row as the wire entry (the diff decoded)."""
    entry = dict(row)
    try:
        entry["diff"] = json.loads(row["diff"] or "{}")
    except ValueError:
        entry["diff"] = {}
    return entry


def page(viewer, filters: Filters, *, limit: int = DEFAULT_LIMIT, offset: int = 0) -> list:
    """One page of entries, newest first (403 unless the viewer may read the audit log)."""
    rbac.require(viewer, "audit:read")
    filters = check(filters, viewer)
    if not 1 <= limit <= MAX_LIMIT:
        raise errors.ValidationFailed(validations=[("limit", f"must be 1 to {MAX_LIMIT}")])
    if offset < 0:
        raise errors.ValidationFailed(validations=[("offset", "must be 0 or more")])
    query = _query(filters, limit).offset(offset)
    return [as_entry(row) for row in query.dicts()]


def export(viewer, filters: Filters) -> Iterator[str]:
    """Check access now; the returned iterator yields every matching entry as NDJSON.

    Batches of EXPORT_BATCH rows walk (time, id) downwards from the newest (keyset pagination:
    each batch is an index range scan, never an OFFSET), so memory stays constant and entries
    written during the export are not repeated.
    """
    rbac.require(viewer, "audit:read")
    return _export_lines(check(filters, viewer))


def _export_lines(filters: Filters) -> Iterator[str]:
    with database.connection_context():
        after = None
        while True:
            query = _query(filters, EXPORT_BATCH)
            if after is not None:
                query = _after(query, after)
            # Raw rows: the stored diff is already JSON, and times need no parsing here.
            rows = database.execute(query).fetchall()
            if not rows:
                return
            yield "".join(map(_ndjson, rows))
            after = (rows[-1][1], rows[-1][0])
            if len(rows) < EXPORT_BATCH:
                return


NAMES = [column.name for column in COLUMNS]


def _ndjson(row: tuple) -> str:
    """One raw row (COLUMNS order) as a line of JSON, the stored diff spliced in as is."""
    entry = dict(zip(NAMES, row, strict=True))
    entry["time"] = _rfc3339(entry["time"])
    diff = entry.pop("diff") or "{}"
    return json.dumps(entry, separators=(",", ":"))[:-1] + f',"diff":{diff}}}\n'


def _rfc3339(value) -> str:
    """A stored time (datetime, or SQLite's text) as RFC 3339 with microseconds and Z."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
