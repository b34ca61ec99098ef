"""The dev URL proxy against a real HTTP server on loopback: access levels, errors, streaming."""

import time
from urllib.parse import parse_qs, urlsplit

import pytest

from app import db
from app.devurls import tickets
from app.models import APIKey, AuditLog, DevURL, ProxyTrafficSample, UserActivity, Workspace
from tests.devurls.conftest import make_organization, make_workspace
from tests.factories import auth_headers, make_token, make_user

ACCESS_LEVELS = ("PRIVATE", "ORG", "AUTHED", "PUBLIC")


@pytest.fixture
def people(app):
    """The owner's workspace is in an organization of its own, with one other member."""
    owner = make_user(username="owner")
    member = make_user(username="member")
    outsider = make_user(username="outsider")
    admin = make_user("site-admin", username="admin")
    organization = make_organization(owner, member)
    workspace = make_workspace(owner, organization=organization, name="box")
    tokens = {user.username: make_token(user) for user in (owner, member, outsider, admin)}
    return workspace, tokens


def _create(client, workspace, token, **body):
    response = client.post(
        f"/api/v0/workspaces/{workspace.id}/devurls", json=body, headers=auth_headers(token, "v0")
    )
    assert response.status_code == 201, response.json
    return response.json


def _visit(client, url, token=None, **kwargs):
    parts = urlsplit(url)
    headers = kwargs.pop("headers", {})
    if token:
        headers = {**headers, **auth_headers(token, "v0")}
    return client.open(
        parts.path or "/",
        base_url=f"{parts.scheme}://{parts.netloc}",
        query_string=parts.query,
        headers=headers,
        **kwargs,
    )


# visitor -> expected status per access level (PRIVATE, ORG, AUTHED, PUBLIC)
MATRIX = {
    None: (401, 401, 401, 200),
    "owner": (200, 200, 200, 200),
    "member": (403, 200, 200, 200),
    "outsider": (403, 403, 200, 200),
    "admin": (403, 403, 200, 200),
}


@pytest.mark.parametrize("visitor", list(MATRIX))
def test_access_levels(client, upstream, people, visitor):
    workspace, tokens = people
    devurl = _create(client, workspace, tokens["owner"], port=upstream.port, name="web")
    token = tokens.get(visitor)
    for access, expected in zip(ACCESS_LEVELS, MATRIX[visitor], strict=True):
        changed = client.put(
            f"/api/v0/workspaces/{workspace.id}/devurls/{devurl['id']}",
            data=f'{{"access": "{access}", "name": "web", "port": {upstream.port}}}',
            headers=auth_headers(tokens["owner"], "v0"),
        )
        assert changed.status_code == 200
        response = _visit(client, devurl["url"] + "/hello?x=1", token)
        assert response.status_code == expected, (access, response.json)
        if expected == 200:
            assert response.json["path"] == "/hello?x=1"
            assert response.json["port"] == upstream.port
        else:
            error = response.json["error"]
            assert error["code"] == {401: "unauthorized", 403: "forbidden"}[expected]
            assert access in error["details"] or "/api/v0/devurls/ticket?url=" in error["details"]


def test_request_is_relayed_without_credentials(client, upstream, people):
    workspace, tokens = people
    devurl = _create(client, workspace, tokens["owner"], port=upstream.port, name="web")
    client.set_cookie("coder_session_token", tokens["owner"], domain="web--owner.apps.test")
    client.set_cookie("theme", "dark", domain="web--owner.apps.test")
    response = _visit(
        client,
        devurl["url"] + f"/a%20b/c?coder_session_token={tokens['owner']}&q=1",
        tokens["owner"],
        method="POST",
        data=b"x" * 100_000,
        headers={
            "Connection": "keep-alive, X-Drop-Me",
            "X-Drop-Me": "1",
            "X-Forwarded-For": "203.0.113.9",
            "Coder-Session-Token": tokens["owner"],
        },
    )
    assert response.status_code == 200, response.json
    seen = response.json
    assert seen["method"] == "POST"
    assert seen["path"] == "/a%20b/c?q=1"
    assert seen["body_length"] == 100_000
    headers = seen["headers"]
    for gone in ("session-token", "coder-session-token", "x-drop-me"):
        assert gone not in headers
    assert headers["connection"] == "close"  # the proxy's own: a request with a body
    assert headers["cookie"] == "theme=dark"
    assert headers["host"] == "web--owner.apps.test"
    assert headers["x-forwarded-host"] == "web--owner.apps.test"
    assert headers["x-forwarded-proto"] == "http"
    assert headers["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"
    # The upstream's hop-by-hop headers stay on its side.
    assert "Keep-Alive" not in response.headers
    assert response.headers.get("Connection") is None


def test_deleting_stops_proxying(client, upstream, people):
    workspace, tokens = people
    devurl = _create(
        client, workspace, tokens["owner"], port=upstream.port, access="PUBLIC", name="gone"
    )
    assert _visit(client, devurl["url"]).status_code == 200
    deleted = client.delete(
        f"/api/v0/workspaces/{workspace.id}/devurls/{devurl['id']}",
        data="{}",
        headers=auth_headers(tokens["owner"], "v0"),
    )
    assert deleted.status_code == 204
    response = _visit(client, devurl["url"], tokens["owner"])
    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"


@pytest.mark.parametrize("status", ["OFF", "CREATING", "FAILED"])
def test_workspace_not_on_is_502(client, upstream, people, status):
    workspace, tokens = people
    devurl = _create(client, workspace, tokens["owner"], port=upstream.port, access="PUBLIC")
    with db.database.connection_context():
        Workspace.update(container_status=status).where(Workspace.id == workspace.id).execute()
    response = _visit(client, devurl["url"])
    assert response.status_code == 502
    assert response.json["error"]["msg"] == "The workspace is not running."
    assert status in response.json["error"]["details"]


def test_port_not_answering_is_502(client, closed_port, people):
    workspace, tokens = people
    devurl = _create(client, workspace, tokens["owner"], port=closed_port, access="PUBLIC")
    response = _visit(client, devurl["url"])
    assert response.status_code == 502
    assert (
        response.json["error"]["msg"] == f"Nothing answers on port {closed_port} of the workspace."
    )


def test_slow_upstream_is_504(make_app, upstream, people):
    from tests.devurls.conftest import SETTINGS

    client = make_app(**{**SETTINGS, "CODER_DEVURL_PROXY_TIMEOUT": "300ms"}).test_client()
    workspace, tokens = people
    devurl = _create(client, workspace, tokens["owner"], port=upstream.port, access="PUBLIC")
    response = _visit(client, devurl["url"] + "/slow?seconds=3")
    assert response.status_code == 504
    assert response.json["error"]["code"] == "gateway_timeout"
    assert "0.3 s" in response.json["error"]["details"]


def test_unnamed_port_is_created_private_for_the_owner(client, upstream, people):
    workspace, tokens = people
    url = f"http://{upstream.port}--box-owner.apps.test/"
    assert _visit(client, url).status_code == 401
    assert _visit(client, url, tokens["member"]).status_code == 404
    with db.database.connection_context():
        assert not DevURL.select().where(DevURL.workspace == workspace.id).exists()
    response = _visit(client, url, tokens["owner"])
    assert response.status_code == 200
    listed = client.get(
        f"/api/v0/workspaces/{workspace.id}/devurls", headers=auth_headers(tokens["owner"], "v0")
    ).json
    assert [(d["port"], d["access"], d["name"], d["url"]) for d in listed] == [
        (upstream.port, "PRIVATE", None, url.rstrip("/"))
    ]
    assert _visit(client, url, tokens["member"]).status_code == 403
    with db.database.connection_context():
        entry = AuditLog.get(AuditLog.resource_type == "devurl")
    assert (entry.action, entry.username, entry.resource_id) == ("create", "owner", listed[0]["id"])


def test_unknown_hosts(client, people):
    for host in ("nothing--owner", "web--nobody", "1--box-nobody", "99999--box-owner"):
        response = _visit(client, f"http://{host}.apps.test/")
        assert response.status_code == 404, host
        assert response.json["error"]["code"] == "not_found"
    # Other hosts are the API's.
    assert _visit(client, "http://coder.test/healthz").data == b"OK"
    assert _visit(client, "http://a.b.apps.test/healthz").data == b"OK"


def test_ticket_sign_in(client, upstream, people):
    workspace, tokens = people
    devurl = _create(client, workspace, tokens["owner"], port=upstream.port, name="web")
    target = devurl["url"] + "/deep/page?tab=2"
    issued = client.get(
        "/api/v0/devurls/ticket",
        query_string={"url": target},
        headers=auth_headers(tokens["owner"], "v0"),
    )
    assert issued.status_code == 302
    location = urlsplit(issued.headers["Location"])
    assert (location.scheme, location.netloc, location.path) == (
        "http",
        "web--owner.apps.test",
        tickets.REDEEM_PATH,
    )
    redeemed = _visit(client, issued.headers["Location"])
    assert redeemed.status_code == 302
    assert redeemed.headers["Location"] == "/deep/page?tab=2"
    cookie = redeemed.headers["Set-Cookie"]
    assert cookie.startswith(f"{tickets.COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    response = _visit(client, target)
    assert response.status_code == 200
    assert response.json["path"] == "/deep/page?tab=2"
    assert "cookie" not in response.json["headers"]

    # The ticket is bound to its host, and the cookie to the session that asked for it.
    ticket = parse_qs(location.query)["ticket"][0]
    elsewhere = _visit(
        client, f"http://other--owner.apps.test{tickets.REDEEM_PATH}?ticket={ticket}"
    )
    assert elsewhere.status_code == 401
    forged = _visit(client, f"http://web--owner.apps.test{tickets.REDEEM_PATH}?ticket=x{ticket}")
    assert forged.status_code == 401
    with db.database.connection_context():
        APIKey.delete().where(APIKey.id == tokens["owner"].split("-")[0]).execute()
    signed_out = _visit(client, target)
    assert signed_out.status_code == 401
    assert "ended" in signed_out.json["error"]["details"]


@pytest.mark.parametrize(
    "url", ["http://coder.test/x", "ftp://web--owner.apps.test/", "not a url", ""]
)
def test_ticket_needs_a_dev_url(client, people, url):
    _, tokens = people
    response = client.get(
        "/api/v0/devurls/ticket",
        query_string={"url": url},
        headers=auth_headers(tokens["owner"], "v0"),
    )
    assert response.status_code == 400
    assert response.json["error"]["details"][0]["field"] == "url"
    assert client.get("/api/v0/devurls/ticket", query_string={"url": url}).status_code == 401


def test_traffic_and_visits_are_recorded(app, client, upstream, people):
    workspace, tokens = people
    devurl = _create(client, workspace, tokens["owner"], port=upstream.port, access="AUTHED")
    member = _visit(client, devurl["url"] + "/big?mb=1", tokens["member"])
    assert len(member.data) == 1024 * 1024
    member.close()  # the server closes the body: that is when the proxy counts it
    posted = _visit(
        client, devurl["url"] + "/count", tokens["member"], method="POST", data=b"z" * 5000
    )
    assert posted.json == {"body_length": 5000}
    posted.close()
    app.extensions["devurl_proxy"].recorder.flush()
    with db.database.connection_context():
        samples = list(ProxyTrafficSample.select().order_by(ProxyTrafficSample.id))
        opened = Workspace.get_by_id(workspace.id)
        active = {a.user_id for a in UserActivity.select()}
    assert [(s.workspace_id, s.rx_bytes, s.tx_bytes) for s in samples] == [
        (workspace.id, 0, 1024 * 1024),
        (workspace.id, 5000, len(posted.data)),
    ]
    assert all(s.latency_ms > 0 for s in samples)
    assert opened.last_opened_at is not None
    assert opened.last_connection_at == opened.last_opened_at
    member_id = next(u for u in people_ids(tokens) if u[0] == "member")[1]
    assert member_id in active


def test_the_last_samples_are_written_without_another_request(app, client, upstream, people):
    workspace, tokens = people
    devurl = _create(client, workspace, tokens["owner"], port=upstream.port, access="PUBLIC")
    recorder = app.extensions["devurl_proxy"].recorder
    recorder.flush()  # a fresh batch window: these requests do not flush it themselves
    for _ in range(3):
        _visit(client, devurl["url"] + "/", buffered=True)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with db.database.connection_context():
            written = ProxyTrafficSample.select().count()
        if written == 3:
            break
        time.sleep(0.1)
    assert written == 3
    assert recorder.pending == [] and recorder.timer is None


def people_ids(tokens):
    with db.database.connection_context():
        for name, token in tokens.items():
            yield name, APIKey.get_by_id(token.split("-")[0]).user_id


def test_bad_wildcard_is_refused(make_app):
    from app.options import OptionError

    with pytest.raises(OptionError, match="CODER_WILDCARD_ACCESS_URL"):
        make_app(CODER_WILDCARD_ACCESS_URL="apps.example.com")


def test_unreachable_database_is_503(tmp_path, make_app):
    from app import create_app
    from tests.conftest import base_config
    from tests.devurls.conftest import SETTINGS
    from tests.support.live_server import free_port

    url = f"postgresql://postgres@127.0.0.1:{free_port()}/pycoderd"
    config = {**base_config(tmp_path), **SETTINGS, "CODER_PG_CONNECTION_URL": url}
    client = create_app(config).test_client()
    response = _visit(client, "http://web--owner.apps.test/")
    assert response.status_code == 503
    assert response.json["error"]["code"] == "unavailable"
