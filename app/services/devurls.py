"""Dev URL rules: CRUD for a workspace's ports, and what the proxy needs to decide a request.

Traffic is counted from the workspace's side: `rx_bytes` is what it received (request bodies),
`tx_bytes` what it sent (response bodies).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from peewee import JOIN, fn

from app import db, errors, rbac
from app.db import database
from app.devurls import hosts, tickets
from app.models import APIKey, DevURL, DevURLTicket, ProxyTrafficSample, User, Workspace
from app.models.base import utcnow
from app.models.devurls import ACCESS_LEVELS
from app.services import activity, addresses, audit
from app.services.context import Caller

SCHEMES = ("http", "https")


# --- CRUD ----------------------------------------------------------------------------------


def workspace_for(viewer: User, workspace_id: str) -> Workspace:
    """The workspace whose dev URLs the viewer may manage: its owner, site managers/admins."""
    workspace = (
        Workspace.select(Workspace, User)
        .join(User)
        .where(Workspace.id == workspace_id)
        .get_or_none()
    )
    if workspace is None:
        raise errors.NotFound()
    if workspace.user_id != viewer.id:
        rbac.require_visible(viewer, "devurls:manage_others")
    return workspace


def list_for(viewer: User, workspace_id: str) -> list[DevURL]:
    workspace = workspace_for(viewer, workspace_id)
    query = DevURL.select().where(DevURL.workspace == workspace.id).order_by(DevURL.port)
    return [_attach(devurl, workspace) for devurl in query]


def create(
    caller: Caller,
    workspace_id: str,
    *,
    port: int,
    name: str | None = None,
    access: str = "PRIVATE",
    scheme: str = "http",
) -> DevURL:
    workspace = workspace_for(caller.user, workspace_id)
    return _create(caller, workspace, port=port, name=name or None, access=access, scheme=scheme)


def update(caller: Caller, workspace_id: str, devurl_id: str, **changes) -> DevURL:
    """Change the given fields (None, absent or an empty name: unchanged).

    An empty name keeps the current one, as the classic CLI sends `"name": ""` when
    `coder urls create` meets an existing port without `--name`."""
    workspace = workspace_for(caller.user, workspace_id)
    with database.atomic():
        devurl = _get(workspace, devurl_id)
        before = _fields(devurl)
        for field in ("port", "access", "scheme"):
            if changes.get(field) is not None:
                setattr(devurl, field, changes[field])
        if changes.get("name"):
            devurl.name = changes["name"]
        _check(devurl)
        _check_unique(workspace, devurl)
        devurl.updated_at = utcnow()
        _save(devurl)
        audit.record(
            caller,
            action="write",
            resource_type="devurl",
            resource_id=devurl.id,
            resource_target=_target(devurl),
            organization_id=workspace.organization_id,
            changes=audit.diff(before, _fields(devurl)),
        )
    return _attach(devurl, workspace)


def delete(caller: Caller, workspace_id: str, devurl_id: str) -> None:
    workspace = workspace_for(caller.user, workspace_id)
    with database.atomic():
        devurl = _get(workspace, devurl_id)
        devurl.delete_instance()
        audit.record(
            caller,
            action="delete",
            resource_type="devurl",
            resource_id=devurl.id,
            resource_target=_target(devurl),
            organization_id=workspace.organization_id,
            changes=audit.diff(_fields(devurl), {}),
        )


def url(devurl: DevURL, wildcard: hosts.Wildcard | None) -> str:
    """The dev URL's address (SPEC §8) from its stored label; empty when no wildcard access URL
    is set, or when the label was withheld because older data had given it to another."""
    if wildcard is None:
        return ""
    if devurl.name:
        label = devurl.host_label
    else:
        label = devurl.workspace.devurl_label
        label = label and f"{devurl.port}--{label}"
    return wildcard.url(label) if label else ""


def _create(caller: Caller, workspace: Workspace, **fields) -> DevURL:
    devurl = DevURL(workspace=workspace, **fields)
    _check(devurl)
    with database.atomic():
        _check_unique(workspace, devurl)
        _save(devurl, force_insert=True)
        audit.record(
            caller,
            action="create",
            resource_type="devurl",
            resource_id=devurl.id,
            resource_target=_target(devurl),
            organization_id=workspace.organization_id,
            changes=audit.diff({}, _fields(devurl)),
            status_code=201,
        )
    return _attach(devurl, workspace)


def _get(workspace: Workspace, devurl_id: str) -> DevURL:
    devurl = DevURL.get_or_none((DevURL.id == devurl_id) & (DevURL.workspace == workspace.id))
    if devurl is None:
        raise errors.NotFound()
    return devurl


def _check(devurl: DevURL) -> None:
    problems = []
    if devurl.name is not None and not hosts.NAME_RE.match(devurl.name):
        problems.append(
            (
                "name",
                "must start with a letter, end with a letter or digit, and hold at most "
                "43 letters, digits, hyphens or underscores",
            )
        )
    if not isinstance(devurl.port, int) or not 1 <= devurl.port <= 65535:
        problems.append(("port", "must be between 1 and 65535"))
    if devurl.access not in ACCESS_LEVELS:
        problems.append(("access", f"must be one of {', '.join(ACCESS_LEVELS)}"))
    if devurl.scheme not in SCHEMES:
        problems.append(("scheme", "must be http or https"))
    if problems:
        raise errors.ValidationFailed(validations=problems)


def _check_unique(workspace: Workspace, devurl: DevURL) -> None:
    """One dev URL per port per workspace; a host label once (`name--user`: a name once per
    user, and never spelling another user's name and dev URL). Sets the host label from the
    owner's username as it is in this transaction."""
    others = DevURL.select().where(DevURL.id != devurl.id)
    if others.where((DevURL.workspace == workspace.id) & (DevURL.port == devurl.port)).exists():
        raise errors.Conflict(f"This workspace already has a dev URL for port {devurl.port}.")
    owner = addresses.lock_owner(workspace.user_id)
    devurl.host_label = addresses.devurl_host_label(devurl.name, owner.username)
    if devurl.name and (
        others.join(Workspace)
        .where(
            (Workspace.user == workspace.user_id) & (fn.LOWER(DevURL.name) == devurl.name.lower())
        )
        .exists()
    ):
        raise errors.Conflict(
            f'You already have a dev URL named "{devurl.name}".',
            validations=[("name", "taken by another dev URL of this user")],
        )
    addresses.check_devurl(devurl.host_label, "name", exclude_id=devurl.id)


def _save(devurl: DevURL, force_insert: bool = False) -> None:
    """Save; a concurrent request that took the port or the host label first is a 409."""
    addresses.save_claiming(devurl, "name" if devurl.name else "port", force_insert=force_insert)


def _fields(devurl: DevURL) -> dict:
    return {
        "name": devurl.name,
        "port": devurl.port,
        "access": devurl.access,
        "scheme": devurl.scheme,
    }


def _target(devurl: DevURL) -> str:
    return devurl.name or f"port {devurl.port}"


def _attach(devurl: DevURL, workspace: Workspace) -> DevURL:
    """Share the already-loaded workspace (and its user) instead of querying per row."""
    devurl.workspace = workspace
    return devurl


# --- the proxy's decisions -----------------------------------------------------------------


@dataclass
class Route:
    """Where a dev URL host leads: the workspace, its owner and the port's record (if any)."""

    workspace: Workspace
    port: int
    devurl: DevURL | None


# Only what the proxy needs: building SQL for every column costs more than running it.
_ROUTE_COLUMNS = (
    Workspace.id,
    Workspace.name,
    Workspace.user,
    Workspace.organization,
    Workspace.container_status,
    Workspace.network_address,
    User.id,
    User.username,
)
_DEVURL_COLUMNS = (
    DevURL.id,
    DevURL.workspace,
    DevURL.name,
    DevURL.port,
    DevURL.access,
    DevURL.scheme,
)


def resolve(label: str) -> Route | None:
    """The route behind a host label (`name--user` or `port--workspace-user`), or None: the
    stored labels are unique, so a host has one reading at most."""
    address = hosts.address(label)
    if isinstance(address, hosts.NamedAddress):
        row = _NAMED_ROUTE.first(address.label)
    elif isinstance(address, hosts.PortAddress):
        row = _PORT_ROUTE.first(address.workspace_label, address.port)
    else:
        return None
    if row is None:
        return None
    workspace, devurl = _route(*row)
    port = devurl.port if devurl is not None else address.port
    return Route(workspace=workspace, port=port, devurl=devurl)


_NAMED_ROUTE = db.PreparedSelect(
    lambda label: (
        Workspace.select(*_ROUTE_COLUMNS, *_DEVURL_COLUMNS)
        .join(User)
        .join_from(Workspace, DevURL)
        .where(DevURL.host_label == label)
        .limit(1)
        .tuples()
    )
)
_PORT_ROUTE = db.PreparedSelect(
    lambda workspace_label, port: (
        Workspace.select(*_ROUTE_COLUMNS, *_DEVURL_COLUMNS)
        .join(User)
        .join_from(
            Workspace,
            DevURL,
            JOIN.LEFT_OUTER,
            on=(DevURL.workspace == Workspace.id) & (DevURL.port == port),
        )
        .where(Workspace.devurl_label == workspace_label)
        .limit(1)
        .tuples()
    )
)


def _route(*values):
    """(workspace, devurl or None) from one row of the columns above."""
    # __no_default__: these rows exist; generating fresh ids and times for them is wasted work.
    workspace = Workspace(
        __no_default__=True,
        id=values[0],
        name=values[1],
        user=User(__no_default__=True, id=values[6], username=values[7]),
        organization=values[3],
        container_status=values[4],
        network_address=values[5],
    )
    if values[8] is None:
        return workspace, None
    devurl = DevURL(
        __no_default__=True,
        id=values[8],
        workspace=workspace,
        name=values[10],
        port=values[11],
        access=values[12],
        scheme=values[13],
    )
    return workspace, devurl


_KEY_FOR_GRANT = db.PreparedSelect(
    lambda key_id, user_id: (
        APIKey.select(APIKey, User)
        .join(User)
        .where((APIKey.id == key_id) & (APIKey.user == user_id))
        .limit(1)
    )
)


def user_for_grant(user_id: str, key_id: str) -> User | None:
    """The user a dev URL cookie speaks for, while the session that vouched for it lives."""
    key = _KEY_FOR_GRANT.first(key_id, user_id)
    if key is None or key.expires_at <= utcnow() or not key.user.is_active:
        return None
    return key.user


def check_access(route: Route, user: User | None) -> None:
    """PUBLIC anyone; AUTHED signed-in users; ORG the organization's members; PRIVATE the owner."""
    access = route.devurl.access
    if access == "PUBLIC":
        return
    if user is None:
        raise errors.Unauthorized(
            "Sign in to reach this dev URL.", detail=f"This dev URL is {access}."
        )
    if access == "AUTHED" or user.id == route.workspace.user_id:
        return
    if access == "ORG" and rbac.organization_roles(user, route.workspace.organization_id):
        return
    raise errors.Forbidden(
        "You may not reach this dev URL.",
        detail=f"This dev URL is {access}: "
        + ("members of the workspace's organization only." if access == "ORG" else "owner only."),
    )


def open_port(caller: Caller, route: Route) -> Route:
    """An unnamed port visited by the workspace's owner without a record: create it PRIVATE."""
    if caller.user is None:
        raise errors.Unauthorized("Sign in to reach this dev URL.")
    if caller.user.id != route.workspace.user_id:
        raise errors.NotFound()
    try:
        route.devurl = _create(caller, route.workspace, port=route.port, access="PRIVATE")
    except errors.Conflict:  # created meanwhile by another request
        route.devurl = DevURL.get(
            (DevURL.workspace == route.workspace.id) & (DevURL.port == route.port)
        )
    return route


@dataclass(frozen=True)
class TrafficSample:
    workspace_id: str
    rx_bytes: int
    tx_bytes: int
    latency_ms: float
    time: dt.datetime


def record_traffic(samples: list[TrafficSample]) -> None:
    """Insert a batch of samples with one prepared statement (peewee's insert_many rendered
    every value: 20 us per proxied request)."""
    if not samples:
        return
    fields = ProxyTrafficSample._meta.fields
    rows = [
        (
            fields["time"].db_value(s.time),
            s.workspace_id,
            int(s.rx_bytes),
            int(s.tx_bytes),
            float(s.latency_ms),
        )
        for s in samples
    ]
    with database.atomic():
        database.cursor().executemany(_insert_traffic_sql(), rows)


def _insert_traffic_sql() -> str:
    opening, closing = database.quote  # the dialect's identifier quotes, e.g. '""'
    table = f"{opening}{ProxyTrafficSample._meta.table_name}{closing}"
    columns = ("time", "workspace_id", "rx_bytes", "tx_bytes", "latency_ms")
    names = ", ".join(f"{opening}{name}{closing}" for name in columns)
    marks = ", ".join([database.param] * len(columns))
    return f"INSERT INTO {table} ({names}) VALUES ({marks})"


def record_visit(workspace_id: str, visitor_id: str | None, now: dt.datetime) -> None:
    """A dev URL request: the workspace is used (app.services.activity), the visitor active."""
    activity.mark_used(workspace_id, visitor_id, now)


def ticket_redirect(user: User, key_id: str, target: str, wildcard) -> str:
    """Where to send a signed-in browser so that `target` (a dev URL) knows them: its host's
    redeem path with a ticket, single use and opaque (a random token; only its digest is
    stored, with who asked, the host and where to go next)."""
    parts = urlsplit(target or "")
    label = wildcard.label(parts.netloc) if wildcard is not None else None
    if parts.scheme not in SCHEMES or label is None:
        raise errors.ValidationFailed(
            validations=[("url", "must be an http(s) address under the wildcard access URL")]
        )
    path = tickets.safe_path((parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
    ticket, digest = tickets.new_ticket()
    now = utcnow()
    with database.atomic():
        DevURLTicket.delete().where(DevURLTicket.expires_at <= now).execute()
        DevURLTicket.create(
            token_hash=digest,
            user_id=user.id,
            api_key_id=key_id,
            host=parts.netloc.lower(),
            path=path,
            expires_at=now + dt.timedelta(seconds=tickets.TICKET_MAX_AGE),
        )
    query = urlencode({"ticket": ticket})
    return f"{parts.scheme}://{parts.netloc}{tickets.REDEEM_PATH}?{query}"


def redeem_ticket(ticket: str, host: str) -> tickets.Grant:
    """Use up a ticket on the dev URL host it was issued for. The row is deleted as it is
    read: of two redemptions, in any workers or instances, only the one whose delete took the
    row succeeds. Raises InvalidTicket."""
    digest = tickets.digest(ticket or "")
    with database.atomic():
        row = DevURLTicket.get_or_none(DevURLTicket.token_hash == digest)
        taken = row is not None and (
            DevURLTicket.delete().where(DevURLTicket.token_hash == digest).execute() == 1
        )
    if not taken:
        raise tickets.InvalidTicket("unknown or already used")
    if row.expires_at <= utcnow():
        raise tickets.InvalidTicket("expired")
    if row.host != host.lower():
        raise tickets.InvalidTicket("issued for another host")
    return tickets.Grant(user_id=row.user_id, key_id=row.api_key_id, host=host, path=row.path)
