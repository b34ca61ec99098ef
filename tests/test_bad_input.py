"""Bad input is a 400 in the version's envelope, never a 500 (issue 14, finding 12).

Each attack as the outside review sent it: ~100k nested `[` on every JSON route (the
unauthenticated login and CSP reports included), a lone surrogate "\\ud800" in names and
descriptions, an integer past 64 bits, and NaN/Infinity in JSON; plus two requests racing past a
name check into the unique index (409, not 500).
"""

import threading

import pytest

from app import db
from app.models import APIKey, Organization, User
from app.services import organizations, users
from tests.conftest import BACKEND
from tests.factories import auth_headers, make_token, make_user

DEEP = "[" * 100_000 + "]" * 100_000
LONE_SURROGATE = '"bad \\ud800 name"'  # JSON text: the escape, as a client sends it


def _v0(token):
    return auth_headers(token, "v0")


def _post_raw(client, path, text, headers=None, method="POST"):
    return client.open(
        path,
        method=method,
        data=text,
        headers={**(headers or {}), "Content-Type": "application/json"},
    )


def _json_operations(client, version):
    """(method, path) of every operation of the version's document that takes a JSON body."""
    document = client.get(f"/api/{version}/openapi.json").json
    found = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                concrete = path.replace("{", "").replace("}", "")  # {org_id} -> org_id
                found.append((method.upper(), concrete))
    return found


def _assert_v0_400(response):
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert set(response.json) == {"error"}
    assert response.json["error"]["code"] == "bad_request"
    return response.json["error"]


def _assert_v2_400(response):
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert "message" in response.json and "error" not in response.json
    return response.json


@pytest.mark.parametrize("version", ["v0", "v2"])
def test_deep_nesting_on_every_json_route_is_a_400(client, version):
    admin = make_user("site-admin")
    headers = auth_headers(make_token(admin), version)
    operations = _json_operations(client, version)
    assert len(operations) > (10 if version == "v0" else 3)
    check = _assert_v0_400 if version == "v0" else _assert_v2_400
    for method, path in operations:
        response = _post_raw(client, path, DEEP, headers, method=method)
        body = check(response)
        message = body["msg"] if version == "v0" else body["message"]
        assert "nested" in message, (method, path, body)


@pytest.mark.parametrize("path", ["/api/v2/users/login", "/api/v2/csp/reports"])
def test_deep_nesting_unauthenticated(client, path):
    body = _assert_v2_400(_post_raw(client, path, DEEP))
    assert body["message"] == "Request body is nested more than 32 levels deep."


def test_nesting_limit_is_32_levels(client):
    def report(levels):  # {"csp-report": {"a": {"a": ... {}}}}: `levels` objects in all
        return '{"csp-report": ' + '{"a": ' * (levels - 2) + "{}" + "}" * (levels - 2) + "}"

    assert _post_raw(client, "/api/v2/csp/reports", report(32)).status_code == 200
    assert _post_raw(client, "/api/v2/csp/reports", report(33)).status_code == 400
    # Deeper than the limit but not deep enough for Python's own recursion limit.
    assert _post_raw(client, "/api/v2/csp/reports", report(500)).status_code == 400


def test_lone_surrogate_in_names_and_descriptions_is_refused(client):
    admin = make_user("site-admin")
    v0, v2 = _v0(make_token(admin)), auth_headers(make_token(admin))
    attacks = [
        ("POST", "/api/v0/orgs", f'{{"name": {LONE_SURROGATE}}}', v0, "name"),
        (
            "POST",
            "/api/v0/orgs",
            f'{{"name": "ok", "description": {LONE_SURROGATE}}}',
            v0,
            "description",
        ),
        ("PATCH", f"/api/v0/users/{admin.id}", f'{{"name": {LONE_SURROGATE}}}', v0, "name"),
        (
            "POST",
            "/api/v2/users/me/keys/tokens",
            f'{{"token_name": {LONE_SURROGATE}}}',
            v2,
            "token_name",
        ),
        # Raw UTF-8 of U+D800 (ED A0 80) decodes to the same lone surrogate.
        ("POST", "/api/v0/orgs", b'{"name": "raw \xed\xa0\x80"}', v0, "name"),
    ]
    for method, path, text, headers, field in attacks:
        response = _post_raw(client, path, text, headers, method=method)
        if path.startswith("/api/v2"):
            body = _assert_v2_400(response)
            assert body["validations"][0]["field"] == field
        else:
            details = _assert_v0_400(response)["details"]
            assert details[0]["field"] == field, details
        assert "surrogate" in response.get_data(as_text=True)
    # Nothing reached the database (SQLite would have stored it; PostgreSQL refuses it).
    with db.database.connection_context():
        assert [o.name for o in Organization.select()] == ["default"]
        assert User.get_by_id(admin.id).name == admin.name
        assert not APIKey.select().where(APIKey.token_name.is_null(False)).exists()


def test_lone_surrogate_in_login_is_a_400(client):
    make_user(username="someone", password="a-long-password-1")
    response = _post_raw(
        client,
        "/api/v2/users/login",
        '{"email": "someone@example.com", "password": "a-long-\\udc00"}',
    )
    assert _assert_v2_400(response)["validations"][0]["field"] == "password"


def test_offset_past_64_bits_is_a_400(client):
    headers = _v0(make_token(make_user("site-admin")))
    response = client.get("/api/v0/audit?offset=99999999999999999999", headers=headers)
    error = _assert_v0_400(response)
    assert error["details"][0]["field"] == "offset"
    assert "64-bit" in error["details"][0]["detail"]
    # The largest 64-bit offset is a valid one: an empty page.
    largest = client.get(f"/api/v0/audit?offset={2**63 - 1}", headers=headers)
    assert largest.status_code == 200 and largest.json == []


def test_integer_fields_are_documented_as_64_bit(client):
    document = client.get("/api/v0/openapi.json").json
    offset = next(
        p for p in document["paths"]["/api/v0/audit"]["get"]["parameters"] if p["name"] == "offset"
    )
    assert offset["schema"]["minimum"] == 0
    assert offset["schema"]["maximum"] == 2**63 - 1


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("/api/v2/csp/reports", '{"csp-report": {"line": NaN}}'),
        ("/api/v2/csp/reports", '{"csp-report": {"line": -Infinity}}'),
        ("/api/v2/csp/reports", '{"csp-report": {"line": 1e400}}'),
        # Python reads no integer of more than 4300 digits (ValueError, not JSONDecodeError).
        ("/api/v2/users/login", '{"email": ' + "9" * 5000 + ', "password": "x"}'),
    ],
)
def test_numbers_json_cannot_hold_are_a_400(client, path, text):
    body = _assert_v2_400(_post_raw(client, path, text))
    assert body["message"] == "Request body must be valid JSON."


def test_nul_is_still_refused_with_its_field(client):
    headers = _v0(make_token(make_user("site-admin")))
    response = _post_raw(client, "/api/v0/orgs", '{"name": "a\\u0000b"}', headers)
    assert _assert_v0_400(response)["details"][0]["field"] == "name"


# Two requests racing past a service's name check meet the unique index. Here the check
# passes for the second request as it does when both run it before either inserts.
@pytest.mark.parametrize(
    ("service", "check", "method", "path", "first", "second"),
    [
        (organizations, "_check_name", "POST", "/api/v0/orgs", {"name": "race"}, None),
        (users, "_check_unique", "POST", "/api/v0/users", None, None),
    ],
    ids=["org-create", "user-create"],
)
def test_unique_index_race_on_create_is_a_409(
    client, monkeypatch, service, check, method, path, first, second
):
    headers = _v0(make_token(make_user("site-admin")))
    body = first or {
        "username": "racer",
        "email": "racer@example.com",
        "name": "Racer",
        "password": "a-long-password-1",
        "login_type": "built-in",
    }
    assert client.open(path, method=method, json=body, headers=headers).status_code == 201
    monkeypatch.setattr(service, check, lambda *args, **kwargs: None)
    again = client.open(path, method=method, json=body, headers=headers)
    assert again.status_code == 409, again.json
    assert again.json["error"]["code"] == "conflict"


def test_unique_index_race_on_rename_is_a_409(client, monkeypatch):
    headers = _v0(make_token(make_user("site-admin")))
    client.post("/api/v0/orgs", json={"name": "taken"}, headers=headers)
    other = client.post("/api/v0/orgs", json={"name": "other"}, headers=headers).json
    monkeypatch.setattr(organizations, "_check_name", lambda *args, **kwargs: None)
    renamed = client.patch(f"/api/v0/orgs/{other['id']}", json={"name": "taken"}, headers=headers)
    assert renamed.status_code == 409, renamed.json
    user = make_user()
    monkeypatch.setattr(users, "_check_unique", lambda *args, **kwargs: None)
    clash = client.patch(
        f"/api/v0/users/{user.id}", json={"email": "taken@example.com"}, headers=headers
    )
    assert clash.status_code == 200
    again = client.patch(
        f"/api/v0/users/{make_user().id}", json={"email": "taken@example.com"}, headers=headers
    )
    assert again.status_code == 409, again.json


@pytest.mark.skipif(BACKEND != "postgres", reason="SQLite's IMMEDIATE transactions serialize")
def test_concurrent_creates_of_one_name_race_into_a_409(app, monkeypatch):
    """Two threads both pass the name check, then both insert: PostgreSQL's unique index
    makes the second wait for the first's commit and refuse it."""
    headers = _v0(make_token(make_user("site-admin")))
    both_checked = threading.Barrier(2, timeout=10)
    real_check = organizations._check_name

    def check_then_wait(name, exclude=None):
        real_check(name, exclude)
        both_checked.wait()

    monkeypatch.setattr(organizations, "_check_name", check_then_wait)
    statuses = []

    def create():
        with app.test_client() as client:
            response = client.post("/api/v0/orgs", json={"name": "race"}, headers=headers)
            statuses.append(response.status_code)

    threads = [threading.Thread(target=create) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(statuses) == [201, 409]
