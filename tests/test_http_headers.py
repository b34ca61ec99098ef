"""CORS (off unless allowed, as Coder) and Strict-Transport-Security."""

import pytest

from app import create_app, options
from tests.conftest import base_config

PREFLIGHT = {
    "Origin": "https://elsewhere.example",
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "Coder-Session-Token, Content-Type",
}


@pytest.mark.parametrize("path", ["/api/v2/buildinfo", "/api/v0/users/me", "/healthz"])
def test_no_cors_by_default(client, path):
    response = client.get(path, headers={"Origin": "https://elsewhere.example"})
    assert "Access-Control-Allow-Origin" not in response.headers
    response = client.options(path, headers=PREFLIGHT)
    assert not [h for h in response.headers.keys() if h.startswith("Access-Control-")]


def test_cors_when_allowed(make_app):
    client = make_app(CODER_DANGEROUS_ALLOW_CORS_REQUESTS=True).test_client()
    response = client.get("/api/v2/buildinfo", headers={"Origin": "https://elsewhere.example"})
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Origin" in response.headers["Vary"]
    assert "Access-Control-Allow-Credentials" not in response.headers
    response = client.options("/api/v2/csp/reports", headers=PREFLIGHT)
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Access-Control-Allow-Methods"] == "POST"
    assert (
        response.headers["Access-Control-Allow-Headers"]
        == PREFLIGHT["Access-Control-Request-Headers"]
    )
    # Same-origin requests (no Origin) get no CORS headers.
    assert "Access-Control-Allow-Origin" not in client.get("/api/v2/buildinfo").headers


def test_no_hsts_by_default(client):
    assert "Strict-Transport-Security" not in client.get("/api/v2/buildinfo").headers


def test_hsts(make_app):
    client = make_app(
        CODER_STRICT_TRANSPORT_SECURITY=31536000,
        CODER_STRICT_TRANSPORT_SECURITY_OPTIONS="includesubdomains,PRELOAD",
    ).test_client()
    for path in ("/api/v2/buildinfo", "/api/v2/nope", "/healthz"):
        assert client.get(path).headers["Strict-Transport-Security"] == (
            "max-age=31536000; includeSubDomains; preload"
        )


def test_unknown_hsts_option_refuses_to_start(tmp_path):
    config = {
        **base_config(tmp_path),
        "CODER_STRICT_TRANSPORT_SECURITY": 60,
        "CODER_STRICT_TRANSPORT_SECURITY_OPTIONS": "everything",
    }
    with pytest.raises(options.OptionError, match="CODER_STRICT_TRANSPORT_SECURITY_OPTIONS"):
        create_app(config)


@pytest.mark.parametrize(
    "path", ["/swagger", "/swagger/assets/initializer.js", "/api/v2/buildinfo", "/api/v0/nope"]
)
def test_pages_cannot_be_framed(client, path):
    """Issue 14, finding 17: /swagger could be framed by another site (clickjacking)."""
    response = client.get(path)
    assert response.status_code == (404 if path.endswith("nope") else 200)
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    ("own", "frame_options", "policy"),
    [
        ({}, ["DENY"], ["frame-ancestors 'none'"]),
        ({"X-Frame-Options": "SAMEORIGIN"}, ["SAMEORIGIN"], ["frame-ancestors 'none'"]),
        ({"Content-Security-Policy": ""}, ["DENY"], ["frame-ancestors 'none'"]),
        (
            {"Content-Security-Policy": "default-src 'self'"},
            ["DENY"],
            ["default-src 'self'; frame-ancestors 'none'"],
        ),
        (
            {"Content-Security-Policy": "frame-ancestors 'self'"},
            ["DENY"],
            ["frame-ancestors 'self'"],
        ),
    ],
)
def test_a_views_own_framing_headers_are_kept_or_completed(app, own, frame_options, policy):
    """Each header once: a view's own X-Frame-Options stays; its policy gains frame-ancestors;
    pycoderd's own headers replace any a view set, never doubling them."""
    app.add_url_rule(
        "/own-headers",
        "own_headers",
        lambda: (
            "ok",
            200,
            {**own, "X-Content-Type-Options": "sniff", "X-Coder-Build-Version": "x"},
        ),
    )
    response = app.test_client().get("/own-headers")
    assert response.headers.getlist("X-Frame-Options") == frame_options
    assert response.headers.getlist("Content-Security-Policy") == policy
    assert response.headers.getlist("X-Content-Type-Options") == ["nosniff"]
    assert response.headers.getlist("X-Coder-Build-Version") == [app.config["BUILD_VERSION"]]
    assert len(response.headers.getlist("X-Coder-Request-Id")) == 1
