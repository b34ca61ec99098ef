"""Debian nginx in front of `pycoderd server`: forwarded headers count only from a trusted proxy.

nginx terminates TLS on two ports: one connects upstream from 127.0.0.1 (listed in
CODER_PROXY_TRUSTED_ORIGINS), the other from 127.0.0.3 (not listed). Clients connect from their
own loopback addresses (127.0.0.x), so the audit log shows whose address pycoderd believed.
Dev URL hosts pass through nginx to pycoderd's dev URL proxy and on to the workspace's port.
"""

from __future__ import annotations

import pytest

from app import db
from app.models import AuditLog
from tests.devurls.conftest import make_devurl, make_workspace
from tests.devurls.upstream import Upstream
from tests.factories import make_token, make_user
from tests.gates import nginx
from tests.gates.conftest import need
from tests.support import live_server

TRUSTED_PROXY = "127.0.0.1"
UNTRUSTED_PROXY = "127.0.0.3"
PASSWORD = "Proxy-Gate-Passw0rd!"
DEV_HOST = "echo--proxied.apps.test"

# What is checked here does not depend on the database: the SQLite run covers it.
pytestmark = pytest.mark.backend("sqlite")


@pytest.fixture
def stack(tmp_path, make_app, pg_database):
    """nginx -> pycoderd server (gunicorn) on this test's database, with a dev URL upstream."""
    need(nginx.binary() is not None, "nginx: apt-get install nginx (or run .ci/services.sh)")
    settings = {
        "CODER_WILDCARD_ACCESS_URL": "*.apps.test",
        "CODER_WORKSPACE_NETWORK": "host",
        "CODER_PROXY_TRUSTED_HEADERS": "X-Forwarded-For,X-Forwarded-Proto",
        "CODER_PROXY_TRUSTED_ORIGINS": f"{TRUSTED_PROXY}/32",
    }
    make_app(**settings)
    user = make_user(username="proxied", email="proxied@example.com", password=PASSWORD)
    upstream = Upstream()
    make_devurl(make_workspace(user), upstream.port, access="PUBLIC", name="echo")
    env = {**settings, "CODER_SQLITE_PATH": str(tmp_path / "pycoderd.sqlite3")}
    if pg_database:
        env["CODER_PG_CONNECTION_URL"] = pg_database
    server = live_server.start(tmp_path, extra_env=env)
    proxy = None
    try:
        server.token = make_token(user)
        server.port = int(server.url.rsplit(":", 1)[1])
        proxy = nginx.Nginx(
            tmp_path / "nginx",
            server.url,
            {TRUSTED_PROXY: live_server.free_port(), UNTRUSTED_PROXY: live_server.free_port()},
        )
        yield server, proxy
    finally:
        if proxy is not None:
            proxy.stop()
        live_server.stop(server)
        upstream.stop()


def _create_token(server, port, name, *, source, tls, forged=None):
    headers = {"Coder-Session-Token": server.token}
    if forged:
        headers["X-Forwarded-For"] = forged
    status, _, body = nginx.call(
        port,
        "POST",
        "/api/v2/users/me/keys/tokens",
        source=source,
        tls=tls,
        body={"token_name": name},
        headers=headers,
    )
    assert status == 201, body


def _audited_ips() -> dict[str, str]:
    with db.database.connection_context():
        query = AuditLog.select(AuditLog.resource_target, AuditLog.ip).where(
            (AuditLog.resource_type == "api_key") & (AuditLog.action == "create")
        )
        return {entry.resource_target: entry.ip for entry in query}


def test_client_ip_is_taken_from_a_trusted_proxy_only(stack):
    server, proxy = stack
    trusted, untrusted = proxy.binds[TRUSTED_PROXY], proxy.binds[UNTRUSTED_PROXY]
    # Through the trusted proxy: the client's own address, whatever it claims before the proxy.
    _create_token(server, trusted, "via-trusted", source="127.0.0.7", tls=True)
    _create_token(
        server, trusted, "via-trusted-forged", source="127.0.0.8", tls=True, forged="203.0.113.9"
    )
    # Through a proxy that is not trusted: the proxy's address.
    _create_token(server, untrusted, "via-untrusted", source="127.0.0.9", tls=True)
    # Straight to pycoderd with a forged header: the client's address.
    _create_token(
        server, server.port, "direct-forged", source="127.0.0.10", tls=False, forged="127.0.0.66"
    )

    ips = _audited_ips()
    assert ips["via-trusted"] == "127.0.0.7"
    assert ips["via-trusted-forged"] == "127.0.0.8"
    assert ips["via-untrusted"] == UNTRUSTED_PROXY
    assert ips["direct-forged"] == "127.0.0.10"


def _login_cookie(port, *, tls, source="127.0.0.11") -> str:
    status, headers, body = nginx.call(
        port,
        "POST",
        "/api/v2/users/login",
        source=source,
        tls=tls,
        body={"email": "proxied@example.com", "password": PASSWORD},
    )
    assert status == 201, body
    cookies = [value for name, value in headers if name.lower() == "set-cookie"]
    session = [c for c in cookies if c.startswith("coder_session_token=")]
    assert len(session) == 1, cookies
    assert body["session_token"] in session[0]
    return session[0]


def _attributes(cookie: str) -> set[str]:
    return {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}


def test_https_at_a_trusted_proxy_makes_the_login_cookie_secure(stack):
    server, proxy = stack
    secure = _login_cookie(proxy.binds[TRUSTED_PROXY], tls=True)
    assert {"secure", "httponly"} <= _attributes(secure)
    # X-Forwarded-Proto from a proxy that is not trusted changes nothing; nor does plain HTTP.
    assert "secure" not in _attributes(_login_cookie(proxy.binds[UNTRUSTED_PROXY], tls=True))
    assert "secure" not in _attributes(_login_cookie(server.port, tls=False))


def test_dev_url_hosts_pass_through(stack):
    server, proxy = stack
    for bind, proto in ((TRUSTED_PROXY, "https"), (UNTRUSTED_PROXY, "http")):
        status, _, body = nginx.call(
            proxy.binds[bind],
            "GET",
            "/hello?x=1",
            source="127.0.0.12",
            tls=True,
            headers={"Host": DEV_HOST},
        )
        assert status == 200, body
        # The workspace's app answered (the echo upstream), with the path and Host kept.
        assert body["path"] == "/hello?x=1"
        assert body["headers"]["x-forwarded-host"] == DEV_HOST
        # The scheme the client used reaches the app only through the trusted proxy.
        assert body["headers"]["x-forwarded-proto"] == proto
        forwarded = [part.strip() for part in body["headers"]["x-forwarded-for"].split(",")]
        assert forwarded[0] == "127.0.0.12"
        # The client once, then the proxy that connected to pycoderd.
        assert len(forwarded) == 2 and forwarded.count("127.0.0.12") == 1, forwarded
