"""GET /api/v0/audit: filters, order, paging, access, NDJSON export, diffs and query plans."""

import datetime as dt
import json
import uuid

import pytest

from app import db
from app.models import AuditLog
from app.services import audit, audit_query
from tests.factories import auth_headers, make_token, make_user

EPOCH = dt.datetime(1970, 1, 1)


def at(seconds: int) -> dt.datetime:
    return EPOCH + dt.timedelta(seconds=seconds)


def add_entries(*entries) -> list[str]:
    """Insert audit rows (field overrides per entry); returns their ids in order."""
    rows = []
    for fields in entries:
        row = {
            "id": str(uuid.uuid4()),
            "time": at(1646092800),
            "action": "create",
            "resource_type": "environment",
            "resource_id": str(uuid.uuid4()),
            "diff": "{}",
            **fields,
        }
        rows.append(row)
    with db.database.connection_context():
        AuditLog.insert_many(rows).execute()
    return [row["id"] for row in rows]


@pytest.fixture
def admin_headers(app):
    return auth_headers(make_token(make_user("site-admin")), "v0")


@pytest.fixture
def quiet_log(app):
    """Start from an audit log holding only the rows a test inserts."""
    with db.database.connection_context():
        AuditLog.delete().execute()


def ids(response) -> list[str]:
    assert response.status_code == 200, response.json
    return [entry["id"] for entry in response.json]


@pytest.mark.parametrize(
    ("roles", "status"),
    [
        ((), 403),
        (("site-auditor",), 200),
        (("site-manager",), 200),
        (("site-admin",), 200),
    ],
)
def test_who_may_read(client, roles, status):
    token = make_token(make_user(*roles))
    response = client.get("/api/v0/audit", headers=auth_headers(token, "v0"))
    assert response.status_code == status
    if status == 403:
        assert response.json["error"]["code"] == "forbidden"
    metrics = client.get(
        "/api/v0/metrics/usage/active-users?start=2022-01-01T00:00:00Z"
        "&end=2022-01-02T00:00:00Z&interval=1%20day",
        headers=auth_headers(token, "v0"),
    )
    assert metrics.status_code == status


def test_anonymous_is_401(client):
    assert client.get("/api/v0/audit").status_code == 401


def test_seed_example_workspace_and_resource_type(client, admin_headers, quiet_log):
    workspace = str(uuid.uuid4())
    expected = add_entries(
        {"resource_id": workspace, "time": at(100), "action": "create"},
        {"resource_id": workspace, "time": at(200), "action": "write"},
        {"resource_id": workspace, "time": at(300), "action": "stop"},
        {"resource_id": workspace, "time": at(400), "resource_type": "devurl"},
        {"time": at(500)},
    )
    response = client.get(
        f"/api/v0/audit?limit=10&resource_id={workspace}&resource_type=environment",
        headers=admin_headers,
    )
    assert ids(response) == list(reversed(expected[:3]))
    entry = response.json[0]
    assert set(entry) == {
        "id",
        "time",
        "organization_id",
        "user_id",
        "username",
        "ip",
        "user_agent",
        "action",
        "resource_type",
        "resource_id",
        "resource_target",
        "diff",
        "status_code",
        "request_id",
    }
    assert entry["time"] == "1970-01-01T00:05:00.000000Z"


def test_seed_example_unix_range(client, admin_headers, quiet_log):
    start, end = 1646092800, 1646697600
    inside = add_entries(
        {"time": at(start)},
        {"time": at(end) - dt.timedelta(microseconds=1)},
        {"time": at(start + 3600)},
    )
    add_entries(
        {"time": at(start) - dt.timedelta(microseconds=1)},
        {"time": at(end)},
        {"time": at(start + 60), "action": "delete"},
        {"time": at(start + 60), "resource_type": "image"},
    )
    response = client.get(
        f"/api/v0/audit?range_start={start}&range_end={end}&resource_type=environment"
        "&action=create",
        headers=admin_headers,
    )
    assert ids(response) == [inside[1], inside[2], inside[0]]


def test_workspace_is_an_alias_of_environment(client, admin_headers, quiet_log):
    expected = add_entries({"time": at(10)}, {"time": at(20)})
    add_entries({"time": at(30), "resource_type": "user"})
    for name in ("workspace", "environment"):
        response = client.get(f"/api/v0/audit?resource_type={name}", headers=admin_headers)
        assert ids(response) == list(reversed(expected))


def test_records_workspace_as_environment(app):
    from app.services.context import Caller

    with db.database.connection_context(), db.database.atomic():
        entry = audit.record(Caller(user=None), action="create", resource_type="workspace")
    assert entry.resource_type == "environment"


def test_user_id_filter_and_me(client, quiet_log):
    auditor = make_user("site-auditor")
    headers = auth_headers(make_token(auditor), "v0")
    mine = add_entries({"user_id": auditor.id, "time": at(5)})
    add_entries({"user_id": str(uuid.uuid4()), "time": at(6)})
    assert ids(client.get(f"/api/v0/audit?user_id={auditor.id}", headers=headers)) == mine
    assert ids(client.get("/api/v0/audit?user_id=me", headers=headers)) == mine


def test_newest_first_limit_offset_and_ties(client, admin_headers, quiet_log):
    same_time = add_entries(*({"time": at(1000)} for _ in range(5)))
    older = add_entries({"time": at(10)})
    everything = ids(client.get("/api/v0/audit", headers=admin_headers))
    assert everything == sorted(same_time, reverse=True) + older
    assert ids(client.get("/api/v0/audit?limit=2", headers=admin_headers)) == everything[:2]
    page = client.get("/api/v0/audit?limit=2&offset=4", headers=admin_headers)
    assert ids(page) == everything[4:6]


def test_default_limit_is_50_and_max_1000(client, admin_headers, quiet_log):
    add_entries(*({"time": at(n)} for n in range(1005)))
    assert len(client.get("/api/v0/audit", headers=admin_headers).json) == 50
    response = client.get("/api/v0/audit?limit=1000", headers=admin_headers)
    assert len(response.json) == 1000


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
        ("offset=-1", "offset"),
        ("resource_type=spaceship", "resource_type"),
        ("action=explode", "action"),
        ("user_id=not-a-uuid", "user_id"),
        ("range_start=yesterday", "range_start"),
        ("range_start=-5", "range_start"),
        ("range_end=99999999999999", "range_end"),
        ("range_start=100&range_end=100", "range_end"),
        ("format=xml", "format"),
    ],
)
def test_invalid_filters_are_400_naming_the_parameter(client, admin_headers, query, field):
    response = client.get(f"/api/v0/audit?{query}", headers=admin_headers)
    assert response.status_code == 400, response.json
    error = response.json["error"]
    assert error["code"] == "bad_request"
    assert [entry["field"] for entry in error["details"]] == [field]


def test_diff_is_an_object_with_secrets_masked(client, admin_headers, quiet_log):
    changes = audit.diff(
        {"name": "a", "password": "old-secret"},
        {
            "name": "b",
            "password": "new-secret",
            "new_registry": {"registry": "r.example", "password": "hunter2"},
        },
    )
    add_entries({"diff": json.dumps(changes)})
    entry = client.get("/api/v0/audit", headers=admin_headers).json[0]
    assert entry["diff"] == {
        "name": {"old": "a", "new": "b"},
        "password": {"old": "******", "new": "******"},
        "new_registry": {"old": None, "new": {"registry": "r.example", "password": "******"}},
    }
    assert "hunter2" not in json.dumps(entry) and "secret" not in json.dumps(entry)


@pytest.mark.parametrize(
    ("field", "secret"),
    [
        ("password", True),
        ("new_password", True),
        ("hashed_secret", True),
        ("session_token", True),
        ("ssh_private_key_encrypted", True),
        ("token", True),
        ("key", True),
        ("password_encrypted", True),
        ("token_name", False),
        ("latest_hash", False),
        ("ssh_public_key", False),
        ("key_regenerated_at", False),
    ],
)
def test_secret_field_names(field, secret):
    assert audit.is_secret(field) is secret


def test_unchanged_fields_are_left_out():
    assert audit.diff({"a": 1, "b": 2}, {"a": 1, "b": 3}) == {"b": {"old": 2, "new": 3}}


def _ndjson(response) -> list[dict]:
    assert response.status_code == 200
    assert response.mimetype == "application/x-ndjson"
    return [json.loads(line) for line in response.get_data(as_text=True).splitlines()]


def test_ndjson_streams_the_whole_filtered_range(client, admin_headers, quiet_log, monkeypatch):
    monkeypatch.setattr(audit_query, "EXPORT_BATCH", 3)
    # ties on time across batch boundaries: the keyset is (time, id), not time alone
    seconds = [100 + n // 4 for n in range(11)]
    matching = add_entries(*({"time": at(second)} for second in seconds))
    add_entries({"time": at(300), "action": "delete"})
    response = client.get("/api/v0/audit?format=ndjson&action=create", headers=admin_headers)
    lines = _ndjson(response)
    newest_first = sorted(zip(seconds, matching, strict=True), reverse=True)
    assert [line["id"] for line in lines] == [entry_id for _, entry_id in newest_first]
    assert lines[0]["diff"] == {} and lines[0]["time"].endswith("Z")
    page = client.get("/api/v0/audit?limit=1000&action=create", headers=admin_headers).json
    assert [line["id"] for line in lines] == [entry["id"] for entry in page]


def test_ndjson_of_nothing_is_empty(client, admin_headers, quiet_log):
    response = client.get("/api/v0/audit?format=ndjson", headers=admin_headers)
    assert _ndjson(response) == []


def test_ndjson_needs_the_same_rights(client):
    headers = auth_headers(make_token(make_user()), "v0")
    response = client.get("/api/v0/audit?format=ndjson", headers=headers)
    assert response.status_code == 403
    assert response.json["error"]["code"] == "forbidden"


FILTER_COMBINATIONS = [
    {},
    {"resource_type": "environment"},
    {"resource_type": "environment", "action": "create"},
    {"resource_type": "environment", "action": "create", "range_start": 1, "range_end": 9},
    {"resource_id": "x", "resource_type": "environment"},
    {"resource_id": "x"},
    {"user_id": str(uuid.uuid4())},
    {"action": "login"},
    {"range_start": 1, "range_end": 9},
]


def _plan(query) -> str:
    sql, params = query.sql()
    if db.is_postgres():
        with db.database.atomic():
            # The test tables are tiny: discourage what only pays on tiny tables, so the plan
            # shows whether an index hands the rows over in order (a plan would still sort
            # or scan everything if no such index existed).
            for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
                db.database.execute_sql(f"SET LOCAL {setting} = off")
            rows = db.database.execute_sql(f"EXPLAIN {sql}", params).fetchall()
        return "\n".join(row[0] for row in rows)
    rows = db.database.execute_sql(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
    return "\n".join(row[-1] for row in rows)


@pytest.mark.parametrize("fields", FILTER_COMBINATIONS, ids=lambda f: "+".join(f) or "none")
@pytest.mark.parametrize("keyset", [False, True], ids=["page", "keyset"])
def test_every_filter_is_an_ordered_index_range(app, fields, keyset):
    """No full scan and no sort: the cost of a page does not grow with the table."""
    filters = audit_query.Filters(**fields)
    query = audit_query._query(filters, 50)
    if keyset:
        query = audit_query._after(query, (at(5), str(uuid.uuid4())))
    with db.database.connection_context():
        plan = _plan(query)
    narrowed = bool(fields) or keyset  # then the index must narrow, not just order
    if db.is_postgres():
        assert "Index" in plan and "Sort" not in plan and "Seq Scan" not in plan, plan
        assert not narrowed or "Index Cond" in plan, plan
    else:
        assert "USING INDEX" in plan or "USING COVERING INDEX" in plan, plan
        assert "TEMP B-TREE" not in plan, plan
        assert not narrowed or "SEARCH" in plan, plan


def test_entries_record_the_status_the_client_got(client, admin_headers, quiet_log):
    """coder-sdk's DeleteOrganization: DELETE /api/v0/orgs/{id} with no body, answered 204."""
    created = client.post("/api/v0/orgs", json={"name": "short-lived"}, headers=admin_headers)
    assert created.status_code == 201
    org_id = created.json["id"]
    deleted = client.delete(f"/api/v0/orgs/{org_id}", headers=admin_headers)
    assert deleted.status_code == 204
    listed = client.get(f"/api/v0/audit?resource_id={org_id}", headers=admin_headers)
    assert listed.status_code == 200, listed.json
    statuses = {entry["action"]: entry["status_code"] for entry in listed.json}
    assert statuses == {"create": 201, "delete": 204}
    # A refused request's entry, written in its own transaction, keeps the refusal's status.
    wrong = {"email": "nobody@example.com", "password": "wrong"}
    assert client.post("/api/v2/users/login", json=wrong).status_code == 401
    with db.database.connection_context():
        login = AuditLog.get(AuditLog.action == "login")
    assert login.status_code == 401
