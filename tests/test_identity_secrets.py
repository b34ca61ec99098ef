"""No secret (password, its hash, token secret, another user's private key) leaves the server
or rests in clear: every response, the database (rows and SQLite files) and the log are searched."""

from pathlib import Path

from app import db, models
from app.models import APIKey, User

ADMIN_PASSWORD = "Correct-Horse-Battery-9"
BOB_PASSWORD = "Temporary-Pass-123"


def test_no_secret_in_responses_database_or_logs(make_app, tmp_path):
    log_file = tmp_path / "pycoderd.log"
    app = make_app(CODER_LOGGING_HUMAN=str(log_file), CODER_VERBOSE="true")
    client = app.test_client()
    bodies = []

    def call(method, url, token=None, **kwargs):
        headers = {"Coder-Session-Token": token} if token else {}
        response = getattr(client, method)(url, headers=headers, **kwargs)
        assert response.status_code < 500, (url, response.get_data(as_text=True))
        bodies.append(response.get_data(as_text=True) + str(response.headers))
        return response

    call(
        "post",
        "/api/v2/users/first",
        json={"email": "admin@example.com", "username": "admin", "password": ADMIN_PASSWORD},
    )
    call("post", "/api/v2/users/login", json={"email": "admin@example.com", "password": "x"})
    login = call(
        "post",
        "/api/v2/users/login",
        json={"email": "admin@example.com", "password": ADMIN_PASSWORD},
    )
    client.delete_cookie("coder_session_token")
    session = login.json["session_token"]
    bob_id = call(
        "post",
        "/api/v0/users",
        session,
        json={
            "email": "bob@example.com",
            "username": "bob",
            "password": BOB_PASSWORD,
            "temporary_password": True,
        },
    ).json["id"]
    minted = [
        session,
        call("post", f"/api/v0/api-keys/{bob_id}", session, json={"name": "ci"}).json["key"],
        call("post", "/api/v2/users/me/keys/tokens", session, json={"token_name": "t"}).json["key"],
        call("post", "/api/v2/users/me/keys", session).json["key"],
    ]
    bob_token = minted[1]
    call(
        "patch",
        "/api/v0/users/me",
        bob_token,
        json={"old_password": BOB_PASSWORD, "password": "Bobs-Own-Choice-42"},
    )
    bob_private = call("get", "/api/v0/users/me/sshkey", bob_token).json["private_key"]
    admin_private = call("get", "/api/v0/users/me/sshkey", session).json["private_key"]
    bodies.clear()  # the owners' own answers above may show their own secrets, once

    regen = call("post", f"/api/v0/api-keys/{bob_id}/{bob_token.split('-')[0]}/regen", session)
    minted.append(regen.json["key"])
    bodies.clear()
    for url in (
        "/api/v0/users",
        f"/api/v0/users/{bob_id}",
        f"/api/v0/users/{bob_id}/sshkey",
        f"/api/v0/api-keys/{bob_id}",
        "/api/v0/api-keys/me",
        "/api/v0/orgs",
        "/api/v0/orgs/default/members",
        "/api/v2/users/me",
        "/api/v2/users/bob",
        "/api/v2/users/me/keys/tokens?include_all=true",
        "/api/v2/users/me/keys/tokens/t",
        "/api/v0/audit",
    ):
        call("get", url, session)
    call("post", "/api/v2/users/logout", session)

    with db.database.connection_context():
        hashes = [u.password_hash for u in User.select()]
        stored_rows = "\n".join(str(row) for model in models.ALL for row in model.select().tuples())
        key_hashes = [k.hashed_secret for k in APIKey.select()]
    secrets = [ADMIN_PASSWORD, BOB_PASSWORD, "Bobs-Own-Choice-42", *hashes, *key_hashes]
    secrets += [token.split("-")[1] for token in minted]
    secrets += [_key_body(bob_private), _key_body(admin_private)]
    everything = "\n".join(bodies)
    for secret in secrets:
        assert secret and secret not in everything

    in_clear = [ADMIN_PASSWORD, BOB_PASSWORD, "Bobs-Own-Choice-42"]
    in_clear += [token.split("-")[1] for token in minted]
    in_clear += [_key_body(bob_private), _key_body(admin_private)]
    files = b""
    if not db.is_postgres():
        for path in Path(app.config["SETTINGS"]["pycoderd.sqlite_path"]).parent.glob("*sqlite3*"):
            files += path.read_bytes()
        assert files
    log = log_file.read_text()
    assert "/api/v0/users" in log  # the log did record the requests
    for secret in in_clear:
        assert secret not in stored_rows
        assert secret.encode() not in files
        assert secret not in log


def _key_body(pem: str) -> str:
    """A distinctive line from the middle of a PEM private key."""
    lines = [line for line in pem.splitlines() if line and not line.startswith("-----")]
    return lines[len(lines) // 2]


SECRET_FIELDS = {"key", "session_token", "private_key"}
STRONG = "Correct-Horse-Battery-9"


def _secret_operations(client):
    """(method, path) of every documented operation whose success body holds a secret field."""
    found = set()
    for version in ("v0", "v2"):
        document = client.get(f"/api/{version}/openapi.json").json
        schemas = document["components"]["schemas"]

        def fields(schema, schemas=schemas):
            if "$ref" in schema:
                schema = schemas[schema["$ref"].rsplit("/", 1)[1]]
            if schema.get("type") == "array":
                return fields(schema["items"])
            return set(schema.get("properties", {}))

        for path, operations in document["paths"].items():
            for method, operation in operations.items():
                if method == "parameters":
                    continue
                for status, response in operation.get("responses", {}).items():
                    schema = response.get("content", {}).get("application/json", {}).get("schema")
                    if status.startswith("2") and schema and fields(schema) & SECRET_FIELDS:
                        found.add((method, path))
    return found


def test_responses_carrying_secrets_are_not_stored(client):
    """Issue 14 finding 17: a new key, token, session token or SSH private key came without
    `Cache-Control: no-store`. Every operation documented to return one sets it."""
    from tests.factories import make_token, make_user

    user = make_user(password=STRONG)
    token = make_token(user, name="theirs")
    key_id = token.split("-")[0]
    headers = {"Coder-Session-Token": token}
    requests = {
        ("post", "/api/v2/users/login"): dict(json={"email": user.email, "password": STRONG}),
        ("post", "/auth/basic/login"): dict(json={"email": user.email, "password": STRONG}),
        ("post", "/api/v2/users/{user}/keys"): dict(path="/api/v2/users/me/keys"),
        ("post", "/api/v2/users/{user}/keys/tokens"): dict(
            path="/api/v2/users/me/keys/tokens", json={"token_name": "new"}
        ),
        ("post", "/api/v0/api-keys/{user_id}"): dict(
            path="/api/v0/api-keys/me", json={"name": "v0"}
        ),
        ("post", "/api/v0/api-keys/{user_id}/{key_id}/regen"): dict(
            path=f"/api/v0/api-keys/me/{key_id}/regen"
        ),
        ("get", "/api/v0/users/{user_id}/sshkey"): dict(path="/api/v0/users/me/sshkey"),
        ("post", "/api/v0/users/{user_id}/sshkey"): dict(path="/api/v0/users/me/sshkey"),
    }
    assert set(requests) == _secret_operations(client)
    for (method, path), request in requests.items():
        answer = client.open(
            request.get("path", path),
            method=method.upper(),
            json=request.get("json"),
            headers=headers,
        )
        client.delete_cookie("coder_session_token")
        assert answer.status_code < 300, (path, answer.json)
        assert SECRET_FIELDS & set(answer.json), path
        assert answer.headers.get("Cache-Control") == "no-store", path
        if path.endswith("/regen"):
            headers = {"Coder-Session-Token": answer.json["key"]}
    # and what holds no secret stays cacheable as before
    assert "no-store" not in client.get("/api/v2/users/me", headers=headers).headers.get(
        "Cache-Control", ""
    )
