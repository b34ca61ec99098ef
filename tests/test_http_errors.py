"""Every error leaves in its version's envelope, with the common headers."""

import uuid

import pytest

from app import options
from tests.factories import auth_headers, make_token, make_user


def assert_common_headers(response):
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Coder-Build-Version"].startswith("v")
    uuid.UUID(response.headers["X-Coder-Request-Id"])


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "OK"
    assert_common_headers(response)


def test_api_root_has_coder_version(client):
    response = client.get("/api")
    assert response.status_code == 200
    # The classic release the CLI compares with; pycoderd's own version stays apart.
    assert response.headers["coder-version"] == "1.20.0"
    assert response.headers["X-Coder-Build-Version"] == response.json["version"]
    assert client.get("/api/").status_code == 200


def test_coder_version_follows_the_classic_api_version_option(make_app):
    client = make_app(CODER_CLASSIC_API_VERSION="1.19.3").test_client()
    response = client.get("/api")
    assert response.headers["coder-version"] == "1.19.3"
    assert client.get("/api/v2/buildinfo").json["version"] == response.json["version"]


def test_classic_api_version_must_be_a_version(make_app):
    with pytest.raises(options.OptionError, match="CODER_CLASSIC_API_VERSION"):
        make_app(CODER_CLASSIC_API_VERSION="1.20\n")


@pytest.mark.parametrize("path", ["/api/v2/", "/api/v2"])
def test_v2_root(client, path):
    response = client.get(path)  # without the slash too: no redirect with an HTML body
    assert response.status_code == 200
    assert response.json == {"message": "👋"}
    assert_common_headers(response)


def test_request_ids_differ(client):
    first = client.get("/healthz").headers["X-Coder-Request-Id"]
    second = client.get("/healthz").headers["X-Coder-Request-Id"]
    assert first != second


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v2/nope", {"message": "Route not found."}),
        (
            "/api/v0/nope",
            {"error": {"msg": "Route not found.", "code": "not_found", "details": None}},
        ),
    ],
)
def test_unknown_route(client, path, body):
    response = client.get(path)
    assert response.status_code == 404
    assert response.json == body
    assert_common_headers(response)


def test_unknown_route_outside_api_is_json(client):
    response = client.get("/definitely-not-here")
    assert response.status_code == 404
    assert response.is_json


@pytest.mark.parametrize("path", ["/api/v2/", "/api/v0/users/me"])
def test_wrong_method(client, path):
    response = client.put(path)
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]
    if path.startswith("/api/v2"):
        assert response.json == {"message": "Method not allowed."}
    else:
        assert response.json["error"]["code"] == "method_not_allowed"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/api/v2/", {"message": "Request body is too large."}),
        (
            "/api/",
            {
                "error": {
                    "msg": "Request body is too large.",
                    "code": "payload_too_large",
                    "details": None,
                }
            },
        ),
    ],
)
def test_oversized_body(make_app, path, expected):
    client = make_app(CODER_MAX_REQUEST_BODY_BYTES=100).test_client()
    response = client.get(path, data=b"{" + b" " * 200 + b"}")
    assert response.status_code == 413
    assert response.json == expected


def test_internal_error_hides_the_trace(make_app):
    app = make_app()

    @app.get("/api/v2/boom")
    def boom():
        raise RuntimeError("secret internals")

    @app.get("/api/v0/boom")
    def boom0():
        raise RuntimeError("secret internals")

    client = app.test_client()
    response = client.get("/api/v2/boom")
    assert response.status_code == 500
    assert response.json == {"message": "An internal server error occurred."}
    response = client.get("/api/v0/boom")
    assert response.status_code == 500
    assert response.json["error"]["code"] == "internal"
    assert "secret" not in response.get_data(as_text=True)


def test_authenticated_me_on_both_versions(app, client):
    user = make_user("site-admin", username="admin")
    token = make_token(user)
    v2 = client.get("/api/v2/users/me", headers=auth_headers(token))
    assert v2.status_code == 200, v2.json
    assert v2.json["username"] == "admin"
    assert v2.json["roles"] == [{"name": "owner", "display_name": "Owner"}]
    v0 = client.get("/api/v0/users/me", headers=auth_headers(token, "v0"))
    assert v0.status_code == 200, v0.json
    assert v0.json["username"] == "admin"
    assert v0.json["roles"] == ["site-admin", "site-member"]
    assert v0.json["created_at"].endswith("Z")
