"""A Coder-sized deployment in the database, for bench.cli_load.

20 organizations, 2,000 users (one site admin), 10,000 workspaces with stats, a build job and its
log each, 2,000 dev URLs, 10^6 audit entries and a year of activity. Rows go in through the
models' `insert_many` (defaults filled in by Peewee, so columns added later need nothing here) and,
for the two large tables, bench.scale's COPY/executemany loader. API keys are made for the users
that drive the load; their tokens are returned.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid

from bench.scale import AUDIT_COLUMNS, _uuid, activity_rows, audit_rows, bulk_insert

ORGANIZATIONS = 20
USERS = 2_000
WORKSPACES_PER_USER = 5
DEVURLS = 2_000
AUDIT_ENTRIES = 1_000_000
ACTIVITY_DAYS = 365
DRIVERS = 200  # users with API keys, whose requests make the CLI mix
LOG_LINES = ("start", "stage", "substage", "substage", "stage", "done")
BATCH = 500


def _chunks(rows: list, size: int = BATCH):
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _insert(model, rows: list[dict]) -> None:
    for chunk in _chunks(rows):
        model.insert_many(chunk).execute()


def seed(database, sizes: dict | None = None) -> dict:
    """Fill an empty, migrated database; return what the load driver needs."""
    from app import tokens
    from app.models import (
        APIKey,
        BuildLog,
        DevURL,
        Image,
        Organization,
        OrganizationMember,
        ProvisionerJob,
        Registry,
        User,
        Workspace,
    )
    from app.services import addresses, passwords

    sizes = {
        "users": USERS,
        "organizations": ORGANIZATIONS,
        "audit": AUDIT_ENTRIES,
        "drivers": DRIVERS,
        "workspaces_per_user": WORKSPACES_PER_USER,
        **(sizes or {}),
    }
    rng = random.Random(19)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    password_hash = passwords.hash_password("bench-password-long-enough")
    with database.atomic():
        default = Organization.get(Organization.is_default == True)  # noqa: E712
        organizations = [default.id] + [
            str(uuid.uuid4()) for _ in range(sizes["organizations"] - 1)
        ]
        _insert(
            Organization,
            [{"id": o, "name": f"org{n:02d}"} for n, o in enumerate(organizations) if n > 0],
        )
        users = []
        for n in range(sizes["users"]):
            users.append(
                {
                    "id": str(uuid.uuid4()),
                    "username": "admin" if n == 0 else f"user{n:04d}",
                    "username_key": "admin" if n == 0 else f"user{n:04d}",
                    "email": f"user{n:04d}@example.com",
                    "password_hash": password_hash,
                    "site_roles": "site-admin" if n == 0 else "",
                    "last_seen_at": now,
                }
            )
        _insert(User, users)
        home = {u["id"]: organizations[n % len(organizations)] for n, u in enumerate(users)}
        members = [
            {"id": str(uuid.uuid4()), "organization": home[u["id"]], "user": u["id"]} for u in users
        ]
        members += [
            {"id": str(uuid.uuid4()), "organization": o, "user": users[0]["id"]}
            for o in organizations
            if o != home[users[0]["id"]]
        ]
        _insert(OrganizationMember, members)
        registries = [{"id": str(uuid.uuid4()), "organization": o} for o in organizations]
        _insert(
            Registry,
            [
                dict(r, friendly_name="registry", registry="registry.example.com")
                for r in registries
            ],
        )
        images = {}
        image_rows = []
        for organization, registry in zip(organizations, registries, strict=True):
            for k in range(5):
                image = str(uuid.uuid4())
                images.setdefault(organization, []).append(image)
                image_rows.append(
                    {
                        "id": image,
                        "organization": organization,
                        "registry": registry["id"],
                        "repository": f"team/image{k}",
                        "description": "a development image",
                    }
                )
        _insert(Image, image_rows)
        workspaces, jobs, logs = [], [], []
        for user in users:
            organization = home[user["id"]]
            for k in range(sizes["workspaces_per_user"]):
                workspace, job = str(uuid.uuid4()), str(uuid.uuid4())
                name = f"ws{k}"
                built = now - dt.timedelta(hours=rng.randrange(1, 2000))
                workspaces.append(
                    {
                        "id": workspace,
                        "name": name,
                        "user": user["id"],
                        "organization": organization,
                        "image": rng.choice(images[organization]),
                        "container_status": "ON" if rng.random() < 0.4 else "OFF",
                        "container_id": f"{rng.getrandbits(128):032x}",
                        **addresses.workspace_names(name, user["username"]),
                        "last_built_at": built,
                        "stat_time": now,
                        "last_online": now,
                        "cpu_usage": rng.random(),
                        "memory_total": 2 << 30,
                        "memory_usage": rng.randrange(1 << 30),
                        "disk_total": 10 << 30,
                        "disk_used": rng.randrange(5 << 30),
                    }
                )
                jobs.append(
                    {
                        "id": job,
                        "workspace": workspace,
                        "kind": "build",
                        "status": "succeeded",
                        "initiator_id": user["id"],
                        "started_at": built,
                        "completed_at": built + dt.timedelta(seconds=3),
                    }
                )
                for line, kind in enumerate(LOG_LINES):
                    logs.append(
                        {
                            "id": _uuid(rng),
                            "workspace": workspace,
                            "job": job,
                            "time": built + dt.timedelta(milliseconds=400 * line),
                            "type": kind,
                            "msg": f"{kind} {line}",
                        }
                    )
        _insert(Workspace, workspaces)
        _insert(ProvisionerJob, jobs)
        _insert(BuildLog, logs)
        by_name = {u["id"]: u["username"] for u in users}
        first_workspaces = workspaces[:: sizes["workspaces_per_user"]][: min(DEVURLS, len(users))]
        _insert(
            DevURL,
            [
                {
                    "id": str(uuid.uuid4()),
                    "workspace": w["id"],
                    "name": "app",
                    "port": 8080,
                    "access": "PRIVATE",
                    "host_label": addresses.devurl_host_label("app", by_name[w["user"]]),
                }
                for w in first_workspaces
            ],
        )
        drivers = []
        keys = []
        for user in users[: sizes["drivers"]]:
            key_id, secret, hashed = tokens.generate()
            keys.append(
                {
                    "id": key_id,
                    "user": user["id"],
                    "hashed_secret": hashed,
                    "login_type": "password",
                    "lifetime_seconds": 30 * 86400,
                    "expires_at": now + dt.timedelta(days=30),
                }
            )
            own = [w for w in workspaces if w["user"] == user["id"]]
            drivers.append(
                {
                    "user_id": user["id"],
                    "organization_id": home[user["id"]],
                    "token": f"{key_id}-{secret}",
                    "workspaces": [w["id"] for w in own],
                }
            )
        _insert(APIKey, keys)
    user_ids = [u["id"] for u in users]
    bulk_insert(
        database,
        "audit_log",
        AUDIT_COLUMNS,
        audit_rows(sizes["audit"], rng, user_ids, [w["id"] for w in workspaces]),
    )
    bulk_insert(
        database,
        "user_activity",
        ("day", "user_id"),
        activity_rows(0, 25 * ACTIVITY_DAYS, user_ids),
    )
    return {
        "admin": drivers[0],
        "drivers": drivers[1:],
        "counts": {
            "organizations": len(organizations),
            "users": len(users),
            "workspaces": len(workspaces),
            "build_logs": len(logs),
            "devurls": len(first_workspaces),
            "audit": sizes["audit"],
            "activity_rows": 25 * ACTIVITY_DAYS,
        },
    }
