"""Every mutating route is in the audit contract; each example writes exactly one entry, in the
transaction of its change; entries carry who, from where (trusted proxies only) and what."""

from __future__ import annotations

import pytest
from flask import g, request

from app import auth, db
from app.models import AuditLog, User
from app.services import audit
from tests import audit_contract
from tests.audit_contract import CONTRACT, Audited, Call, Env, NotAudited
from tests.factories import make_token, make_user

FAIL_TRIGGER = "audit_contract_refuses_audit"


def test_every_mutating_route_has_an_entry(app):
    served = audit_contract.mutating_routes(app)
    missing = sorted(served - set(CONTRACT))
    stale = sorted(set(CONTRACT) - served)
    assert not missing, (
        f"mutating routes with no entry in tests/audit_contract.py (see its docstring): {missing}"
    )
    assert not stale, f"tests/audit_contract.py lists routes the app does not serve: {stale}"


@pytest.mark.parametrize("key", sorted(CONTRACT), ids=lambda key: " ".join(key))
def test_entries_are_well_formed(key):
    entry = CONTRACT[key]
    assert key[0] in audit_contract.MUTATING
    if isinstance(entry, NotAudited):
        assert entry.reason.strip(), "say why the route is not audited"
        return
    assert isinstance(entry, Audited)
    assert entry.action in audit.ACTIONS, f"add {entry.action!r} to audit.ACTIONS"
    resource_type = audit.canonical_resource_type(entry.resource_type)
    assert resource_type in audit.RESOURCE_TYPES, f"add {resource_type!r} to RESOURCE_TYPES"
    assert entry.example is not None or entry.checked_by, "give an example or checked_by"


# --- the checks, shared by the contract's examples and the probes below ---------------------


def _headers(env: Env, call: Call) -> dict:
    if call.headers is not None:
        return call.headers
    return {"Coder-Session-Token": env.admin_token, "Session-Token": env.admin_token}


def _send(env: Env, method: str, call: Call):
    return env.client.open(call.path, method=method, json=call.json, headers=_headers(env, call))


def _entries() -> list[AuditLog]:
    with db.database.connection_context():
        return list(AuditLog.select().order_by(AuditLog.time, AuditLog.id))


def _snapshot() -> dict:
    """Every row of every table: what a failed change must leave exactly as it was."""
    with db.database.connection_context():
        tables = [t for t in db.database.get_tables() if t != "schema_migration"]
        return {
            table: sorted(map(repr, db.database.execute_sql(f'SELECT * FROM "{table}"').fetchall()))
            for table in tables
        }


def _refuse_audit_inserts(on: bool) -> None:
    """Make the database itself refuse audit entries (a real failure inside the transaction)."""
    with db.database.connection_context():
        if db.is_postgres():
            statements = (
                [
                    f"CREATE OR REPLACE FUNCTION {FAIL_TRIGGER}() RETURNS trigger AS $$ "
                    "BEGIN RAISE EXCEPTION 'audit contract: refused'; END $$ LANGUAGE plpgsql",
                    f"CREATE TRIGGER {FAIL_TRIGGER} BEFORE INSERT ON audit_log "
                    f"FOR EACH ROW EXECUTE FUNCTION {FAIL_TRIGGER}()",
                ]
                if on
                else [
                    f"DROP TRIGGER IF EXISTS {FAIL_TRIGGER} ON audit_log",
                    f"DROP FUNCTION IF EXISTS {FAIL_TRIGGER}()",
                ]
            )
        else:
            statements = (
                [
                    f"CREATE TRIGGER {FAIL_TRIGGER} BEFORE INSERT ON audit_log "
                    "BEGIN SELECT RAISE(ABORT, 'audit contract: refused'); END"
                ]
                if on
                else [f"DROP TRIGGER IF EXISTS {FAIL_TRIGGER}"]
            )
        for statement in statements:
            db.database.execute_sql(statement)


def check_writes_one_entry(env: Env, method: str, entry: Audited) -> list[str]:
    call = entry.example(env)
    before = {row.id for row in _entries()}
    response = _send(env, method, call)
    if not 200 <= response.status_code < 300:
        return [f"answered {response.status_code}: {response.get_data(as_text=True)[:300]}"]
    new = [row for row in _entries() if row.id not in before]
    if len(new) != 1:
        return [
            f"wrote {len(new)} audit entries, not 1: {[(r.action, r.resource_type) for r in new]}"
        ]
    row = new[0]
    problems = []
    expected = (entry.action, audit.canonical_resource_type(entry.resource_type))
    if (row.action, row.resource_type) != expected:
        problems.append(f"wrote {(row.action, row.resource_type)}, expected {expected}")
    if call.resource_id is not None and row.resource_id != call.resource_id:
        problems.append(f"resource_id {row.resource_id!r}, expected {call.resource_id!r}")
    if row.request_id != response.headers.get("X-Coder-Request-Id"):
        problems.append("request_id is not the request's X-Coder-Request-Id")
    if row.status_code != response.status_code:
        problems.append(f"status_code {row.status_code}, the client got {response.status_code}")
    return problems


def check_failure_leaves_nothing(env: Env, method: str, entry: Audited) -> list[str]:
    call = entry.example(env)
    if _headers(env, call):  # the token's per-request bookkeeping is not the change: do it now
        env.client.get("/api/v0/users/me", headers=_headers(env, call))
    before = _snapshot()
    _refuse_audit_inserts(True)
    try:
        response = _send(env, method, call)
    finally:
        _refuse_audit_inserts(False)
    after = _snapshot()
    problems = []
    if 200 <= response.status_code < 300:
        problems.append(f"answered {response.status_code} although its audit entry failed")
    changed = sorted(table for table in after if after[table] != before.get(table))
    if changed:
        problems.append(f"the failed change still changed tables {changed}")
    return problems


@pytest.fixture
def env(app):
    # Headers authenticate every example: the cookie the login example gets back must not
    # (it would win over the header, and as a cookie need a same-origin Origin).
    admin = make_user("site-admin", username="contractadmin")
    client = app.test_client(use_cookies=False)
    return Env(client=client, admin=admin, admin_token=make_token(admin))


def test_examples_write_exactly_one_entry(env):
    problems = []
    for (method, rule), entry in sorted(CONTRACT.items()):
        if isinstance(entry, Audited) and entry.example is not None:
            problems += [
                f"{method} {rule}: {p}" for p in check_writes_one_entry(env, method, entry)
            ]
    assert not problems, "\n".join(problems)


def test_failed_changes_leave_no_entry_and_no_change(env):
    problems = []
    for (method, rule), entry in sorted(CONTRACT.items()):
        if isinstance(entry, Audited) and entry.example is not None:
            problems += [
                f"{method} {rule}: {p}" for p in check_failure_leaves_nothing(env, method, entry)
            ]
    assert not problems, "\n".join(problems)


# --- probes: the checks above can fail, and entries carry SPEC §9's fields -------------------


def _rename(name: str, entries: int = 1, split: bool = False) -> None:
    user = auth.current_user()
    caller = auth.caller()
    with db.database.atomic():
        old = user.name
        User.update(name=name).where(User.id == user.id).execute()
        if split:  # wrong: the entry in a transaction of its own, after the change committed
            db.database.commit()
    with db.database.atomic():
        for _ in range(entries):
            audit.record(
                caller,
                action="write",
                resource_type="user",
                resource_id=user.id,
                resource_target=user.username,
                changes=audit.diff({"name": old}, {"name": name}),
            )


def _rename_atomically(name: str) -> None:
    user = auth.current_user()
    with db.database.atomic():
        old = user.name
        User.update(name=name).where(User.id == user.id).execute()
        audit.record(
            auth.caller(),
            action="write",
            resource_type="user",
            resource_id=user.id,
            resource_target=user.username,
            changes=audit.diff({"name": old, "password": ""}, {"name": name, "password": "x"}),
        )


def _probe_app(make_app, **overrides):
    app = make_app(**overrides)

    @app.post("/api/v0/__probe/good")
    def good():
        _rename_atomically(request.get_json()["name"])
        return {"request_id": g.request_id}

    @app.post("/api/v0/__probe/twice")
    def twice():
        _rename(request.get_json()["name"], entries=2)
        return {}

    @app.post("/api/v0/__probe/split")
    def split():
        _rename(request.get_json()["name"], split=True)
        return {}

    return app


def _probe_env(app) -> Env:
    admin = make_user("site-admin")
    return Env(client=app.test_client(), admin=admin, admin_token=make_token(admin))


def _probe(path: str) -> Audited:
    return Audited("write", "user", example=lambda env: Call(path, json={"name": env.unique()}))


def test_checker_notices_an_unlisted_route(make_app):
    app = _probe_app(make_app)
    missing = audit_contract.mutating_routes(app) - set(CONTRACT)
    assert ("POST", "/api/v0/__probe/good") in missing


def test_checks_pass_a_route_that_audits_in_its_transaction(make_app):
    env = _probe_env(_probe_app(make_app))
    entry = _probe("/api/v0/__probe/good")
    assert check_writes_one_entry(env, "POST", entry) == []
    assert check_failure_leaves_nothing(env, "POST", entry) == []


def test_checks_catch_two_entries(make_app):
    env = _probe_env(_probe_app(make_app))
    problems = check_writes_one_entry(env, "POST", _probe("/api/v0/__probe/twice"))
    assert problems and "wrote 2 audit entries" in problems[0]


def test_checks_catch_an_entry_outside_the_change_transaction(make_app):
    env = _probe_env(_probe_app(make_app))
    problems = check_failure_leaves_nothing(env, "POST", _probe("/api/v0/__probe/split"))
    assert any("still changed tables ['user']" in p for p in problems), problems


def test_checks_catch_a_wrong_action(make_app):
    env = _probe_env(_probe_app(make_app))
    entry = Audited("delete", "user", example=_probe("/api/v0/__probe/good").example)
    assert "expected ('delete', 'user')" in check_writes_one_entry(env, "POST", entry)[0]


def _probe_entry(app, remote_addr: str, headers: dict) -> AuditLog:
    admin = make_user("site-admin")
    token = make_token(admin)
    client = app.test_client()
    response = client.post(
        "/api/v0/__probe/good",
        json={"name": "renamed"},
        headers={"Session-Token": token, "User-Agent": "probe/1.0", **headers},
        environ_overrides={"REMOTE_ADDR": remote_addr},
    )
    assert response.status_code == 200
    with db.database.connection_context():
        row = AuditLog.get(AuditLog.request_id == response.json["request_id"])
    assert row.user_id == admin.id and row.username == admin.username
    assert row.user_agent == "probe/1.0"
    assert row.resource_id == admin.id and row.resource_target == admin.username
    assert row.status_code == 200 and row.action == "write" and row.resource_type == "user"
    return row


TRUSTING = {
    "CODER_PROXY_TRUSTED_HEADERS": "X-Forwarded-For",
    "CODER_PROXY_TRUSTED_ORIGINS": "127.0.0.1/32",
}
FORWARDED = {"X-Forwarded-For": "203.0.113.7"}


@pytest.mark.parametrize(
    ("overrides", "remote", "expected"),
    [
        ({}, "127.0.0.1", "127.0.0.1"),  # no proxy trusted: the header is ignored
        (TRUSTING, "127.0.0.1", "203.0.113.7"),  # a trusted proxy: its client
        (TRUSTING, "127.0.0.2", "127.0.0.2"),  # not from the trusted origin: ignored
    ],
)
def test_entry_ip_honours_trusted_proxies_only(make_app, overrides, remote, expected):
    app = _probe_app(make_app, **overrides)
    assert _probe_entry(app, remote, FORWARDED).ip == expected


def test_entry_diff_masks_secrets(make_app):
    import json

    row = _probe_entry(_probe_app(make_app), "127.0.0.1", {})
    assert json.loads(row.diff) == {
        "name": {"old": "", "new": "renamed"},
        "password": {"old": "", "new": "******"},
    }
