"""Rate limits: per client IP and path, Coder's headers and 429 bodies, budgets shared in Redis."""

import os
import socket
import uuid

import pytest
import requests

from tests.support import live_server

REDIS = ("127.0.0.1", 6379)
IN_CI = os.environ.get("CI") == "true"


def _redis_answers() -> bool:
    try:
        with socket.create_connection(REDIS, timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture
def redis_url():
    """A Redis database for counters; the test's keys are removed afterwards."""
    if not _redis_answers():
        if IN_CI:
            pytest.fail("Redis is required under CI=true and does not answer on 127.0.0.1:6379")
        pytest.skip("Redis does not answer on 127.0.0.1:6379: run .ci/services.sh")
    import redis

    url = "redis://127.0.0.1:6379/3"
    client = redis.Redis.from_url(url)
    marker = uuid.uuid4().hex
    yield url, marker
    for key in client.scan_iter(f"*{marker}*"):
        client.delete(key)
    client.close()


def _limited(make_app, limit=5, **overrides):
    return make_app(
        CODER_DANGEROUS_DISABLE_RATE_LIMITS=False, CODER_API_RATE_LIMIT=limit, **overrides
    )


def test_sixth_request_in_a_minute_is_refused(make_app):
    client = _limited(make_app).test_client()
    for remaining in (4, 3, 2, 1, 0):
        response = client.get("/api/v2/buildinfo")
        assert response.status_code == 200
        assert response.headers["X-RateLimit-Limit"] == "5"
        assert response.headers["X-RateLimit-Remaining"] == str(remaining)
        assert int(response.headers["X-RateLimit-Reset"]) > 0
        assert "Retry-After" not in response.headers
    response = client.get("/api/v2/buildinfo")
    assert response.status_code == 429
    assert response.json == {
        "message": "You've been rate limited for sending more than 5 requests in 1m0s."
    }
    assert 0 < int(response.headers["Retry-After"]) <= 60
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert response.headers["X-Coder-Request-Id"]


def test_budget_is_per_path_and_per_client(make_app):
    client = _limited(make_app, limit=2).test_client()
    for _ in range(2):
        assert client.get("/api/v2/buildinfo").status_code == 200
    assert client.get("/api/v2/buildinfo").status_code == 429
    assert client.get("/api/v2/updatecheck").status_code == 200
    other = {"REMOTE_ADDR": "127.0.0.2"}
    assert client.get("/api/v2/buildinfo", environ_base=other).status_code == 200
    # Paths no route serves count too, and health checks are never limited.
    for _ in range(2):
        assert client.get("/api/v2/nope").status_code == 404
    assert client.get("/api/v2/nope").status_code == 429
    for _ in range(5):
        assert client.get("/healthz").status_code == 200


def test_v0_refusal_uses_the_v0_envelope(make_app):
    client = _limited(make_app, limit=1).test_client()
    assert client.get("/api/v0/users/me").status_code == 401
    response = client.get("/api/v0/users/me")
    assert response.status_code == 429
    assert response.json == {
        "error": {
            "msg": "You've been rate limited for sending more than 1 requests in 1m0s.",
            "code": "rate_limited",
            "details": None,
        }
    }
    assert "Retry-After" in response.headers


def test_disabled_rate_limits(make_app):
    client = make_app(CODER_API_RATE_LIMIT=1).test_client()  # base config disables them
    for _ in range(3):
        response = client.get("/api/v2/buildinfo")
        assert response.status_code == 200
        assert "X-RateLimit-Limit" not in response.headers


def test_login_has_its_own_budget_of_sixty(make_app):
    client = _limited(make_app, limit=0).test_client()  # 0: no API-wide limit
    for _ in range(100):
        assert client.get("/api/v2/buildinfo").status_code == 200
    statuses = [client.post("/api/v2/users/login", json={}).status_code for _ in range(61)]
    assert 429 not in statuses[:60]
    response = client.post("/api/v2/users/login", json={})
    assert response.status_code == 429
    assert response.json["message"] == (
        "You've been rate limited for sending more than 60 requests in 1m0s."
    )


def test_cors_preflights_are_not_counted(make_app):
    client = _limited(make_app, limit=1).test_client()
    for _ in range(3):
        assert client.options("/api/v2/buildinfo").status_code == 200
    assert client.get("/api/v2/buildinfo").status_code == 200


def test_two_app_instances_share_one_budget_in_redis(make_app, redis_url):
    url, marker = redis_url
    first = _limited(make_app, CODER_RATE_LIMIT_STORAGE_URL=url).test_client()
    second = _limited(make_app, CODER_RATE_LIMIT_STORAGE_URL=url).test_client()
    path = f"/api/v2/users/{marker}"
    assert [first.get(path).status_code for _ in range(3)] == [401] * 3
    assert [second.get(path).status_code for _ in range(2)] == [401] * 2
    response = second.get(path)
    assert response.status_code == 429
    assert first.get(path).status_code == 429


def test_gunicorn_workers_share_one_budget_in_redis(tmp_path, redis_url):
    url, marker = redis_url
    server = live_server.start(
        tmp_path,
        extra_env={
            "CODER_DANGEROUS_DISABLE_RATE_LIMITS": "false",
            "CODER_API_RATE_LIMIT": "5",
            "CODER_RATE_LIMIT_STORAGE_URL": url,
        },
        workers=2,
    )
    try:
        target = f"{server.url}/api/v2/users/{marker}"
        # A fresh connection per request, so both workers take requests.
        codes = [requests.get(target, timeout=10).status_code for _ in range(5)]
        assert codes == [401] * 5
        response = requests.get(target, timeout=10)
        assert response.status_code == 429
        assert response.json() == {
            "message": "You've been rate limited for sending more than 5 requests in 1m0s."
        }
        assert 0 < int(response.headers["Retry-After"]) <= 60
    finally:
        live_server.stop(server)
