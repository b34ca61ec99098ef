"""Dev URLs served by nginx itself after asking pycoderd (`pycoderd nginx-config`).

Debian's nginx runs `pycoderd nginx-config`'s configuration (its own files, a free loopback port)
in front of a real `pycoderd server`, with real apps as the workspaces' ports. Every visitor gets
from nginx what pycoderd's own proxy gives them; the ones allowed are carried by nginx alone
(one X-Forwarded-For hop: pycoderd's proxy would add a second), and pycoderd's credentials never
reach the app.
"""

from __future__ import annotations

import json
import socket
from urllib.parse import quote

import pytest
import requests
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from app import db
from app.devurls import authorize
from app.models import DevURL
from tests.devurls.conftest import (
    SETTINGS,
    dev_host,
    live_proxy,
    make_devurl,
    make_organization,
    make_workspace,
)
from tests.devurls.test_smuggling import SMUGGLED, BodyIgnoringApp
from tests.devurls.upstream import Upstream
from tests.devurls.ws_upstream import WebSocketUpstream
from tests.factories import make_token, make_user
from tests.gates import nginx
from tests.gates.conftest import need
from tests.support import live_server

TRUSTED = {
    "CODER_PROXY_TRUSTED_ORIGINS": "127.0.0.1/32",
    "CODER_PROXY_TRUSTED_HEADERS": "X-Forwarded-For,X-Forwarded-Proto",
}
ACCESS = ("PRIVATE", "ORG", "AUTHED", "PUBLIC")


class Stack:
    """nginx (`pycoderd nginx-config`) -> pycoderd server, and the apps behind dev URLs."""

    def __init__(self, server, proxy, port):
        self.server = server
        self.proxy = proxy
        self.port = port
        self.tokens: dict[str, str] = {}

    def via_nginx(self, method, host, path="/", **kwargs):
        return self._call(f"http://127.0.0.1:{self.port}", method, host, path, **kwargs)

    def via_pycoderd(self, method, host, path="/", **kwargs):
        return self._call(self.server.url, method, host, path, **kwargs)

    @staticmethod
    def _call(base, method, host, path, headers=None, **kwargs):
        return requests.request(
            method,
            f"{base}{path}",
            headers={"Host": host, **(headers or {})},
            allow_redirects=False,
            timeout=15,
            **kwargs,
        )


@pytest.fixture
def app(make_app):
    return make_app(**SETTINGS, **TRUSTED)


@pytest.fixture
def echo():
    server = Upstream()
    yield server
    server.stop()


@pytest.fixture
def stack(app, tmp_path, pg_database):
    need(nginx.binary() is not None, "nginx: apt-get install nginx (or run .ci/services.sh)")
    servers = live_proxy(tmp_path, pg_database, CODER_ACCESS_URL="http://coder.test", **TRUSTED)
    server = next(servers)
    proxy = None
    try:
        port = live_server.free_port()
        config = server.cli(
            "nginx-config",
            "--listen",
            f"127.0.0.1:{port}",
            "--pycoderd",
            server.url.removeprefix("http://"),
        )
        proxy = nginx.Nginx.with_servers(tmp_path / "nginx", config, [port])
        yield Stack(server, proxy, port)
    finally:
        if proxy is not None:
            proxy.stop()
        next(servers, None)


@pytest.fixture
def people(app):
    owner, member, outsider = (
        make_user(username=name) for name in ("nxowner", "nxmember", "nxoutsider")
    )
    organization = make_organization(owner, member)
    tokens = {
        "owner": make_token(owner),
        "member": make_token(member),
        "outsider": make_token(outsider),
    }
    return owner, organization, tokens


def _forwarded_for(seen) -> list[str]:
    return [part.strip() for part in seen["headers"]["x-forwarded-for"].split(",")]


def test_every_visitor_gets_what_pycoderds_proxy_gives(stack, people, echo):
    owner, organization, tokens = people
    for access in ACCESS:
        workspace = make_workspace(owner, organization=organization, name=f"{access.lower()}box")
        make_devurl(workspace, echo.port, access=access, name=access.lower())
    stopped = make_workspace(owner, organization=organization, name="stopped", status="OFF")
    make_devurl(stopped, echo.port, access="PUBLIC", name="off")
    # Host network: pycoderd's own port is no workspace's (issue 14 finding 4).
    make_devurl(workspace, int(stack.server.url.rsplit(":", 1)[1]), access="PUBLIC", name="loop")
    visitors = {"anonymous": {}} | {
        who: {"Coder-Session-Token": token} for who, token in tokens.items()
    }
    expected = {
        "PRIVATE": {"anonymous": 401, "owner": 200, "member": 403, "outsider": 403},
        "ORG": {"anonymous": 401, "owner": 200, "member": 200, "outsider": 403},
        "AUTHED": {"anonymous": 401, "owner": 200, "member": 200, "outsider": 200},
        "PUBLIC": {"anonymous": 200, "owner": 200, "member": 200, "outsider": 200},
    }
    for access in ACCESS:
        host = dev_host(f"{access.lower()}--nxowner")
        for who, headers in visitors.items():
            through = stack.via_nginx("GET", host, "/page?q=1", headers=headers)
            own = stack.via_pycoderd("GET", host, "/page?q=1", headers=headers)
            assert through.status_code == own.status_code == expected[access][who], (access, who)
            if through.status_code == 200:
                seen = through.json()
                assert seen["path"] == "/page?q=1"
                assert _forwarded_for(seen) == ["127.0.0.1"], "carried by nginx alone"
                assert seen["headers"]["host"] == host
            else:
                assert through.json() == own.json()
    for label, status, code in (
        ("nothing--nxowner", 404, "not_found"),
        ("off--nxowner", 502, "bad_gateway"),
        ("loop--nxowner", 508, "loop_detected"),
    ):
        through = stack.via_nginx("GET", dev_host(label))
        assert through.status_code == status, through.text
        assert through.json()["error"]["code"] == code
    # The owner's first visit to an unnamed port makes it a PRIVATE dev URL, as pycoderd does.
    other = Upstream()
    try:
        unnamed = dev_host(f"{other.port}--publicbox-nxowner")
        assert stack.via_nginx("GET", unnamed, headers=visitors["member"]).status_code == 404
        opened = stack.via_nginx("GET", unnamed, "/x", headers=visitors["owner"])
        assert opened.status_code == 200 and opened.json()["path"] == "/x"
    finally:
        other.stop()
    with db.database.connection_context():
        assert DevURL.get(DevURL.port == other.port).access == "PRIVATE"
    # Refused requests with a body get pycoderd's answer too (nginx hands the body on).
    for access, who, status in (("PRIVATE", "anonymous", 401), ("ORG", "outsider", 403)):
        host = dev_host(f"{access.lower()}--nxowner")
        for way in (stack.via_nginx, stack.via_pycoderd):
            refused = way("POST", host, "/form", headers=visitors[who], data=b"f" * 70000)
            assert refused.status_code == status, (access, who, refused.text)
    # An answer the app makes is the app's, whatever its status.
    posted = stack.via_nginx("POST", dev_host("public--nxowner"), "/echo", data=b"x" * 70000)
    assert posted.status_code == 200 and posted.json()["body_length"] == 70000


def test_pycoderds_credentials_never_reach_the_app(stack, people, echo):
    owner, organization, tokens = people
    workspace = make_workspace(owner, organization=organization, name="creds")
    make_devurl(workspace, echo.port, access="PRIVATE", name="creds")
    host = dev_host("creds--nxowner")
    token = tokens["owner"]
    answer = stack.via_nginx(
        "GET",
        host,
        f"/a%20b?x=1&coder_session_token={token}&y=%2F",
        headers={
            "Cookie": f"theme=dark; coder_session_token={token}; coder_devurl_session_token=z",
            "Session-Token": token,
            "Coder-Session-Token": token,
        },
    )
    assert answer.status_code == 200, answer.text
    seen = answer.json()
    assert seen["path"] == "/a%20b?x=1&y=%2F"
    assert seen["headers"]["cookie"] == "theme=dark"
    assert "session-token" not in seen["headers"]
    assert "coder-session-token" not in seen["headers"]
    assert token not in json.dumps(seen)
    assert not any(name.startswith("x-pycoderd-original") for name in seen["headers"])
    # The loop marker goes on to the workspace, as from pycoderd's own proxy.
    assert seen["headers"]["x-pycoderd-hop"]
    # A request line in absolute form reaches the same app at its path, never elsewhere.
    with socket.create_connection(("127.0.0.1", stack.port), timeout=10) as sock:
        sock.sendall(
            f"GET http://{host}/abs?coder_session_token={token}&k=1 HTTP/1.1\r\n"
            f"Host: {host}\r\nCoder-Session-Token: {token}\r\nConnection: close\r\n\r\n".encode()
        )
        raw = b"".join(iter(lambda: sock.recv(65536), b""))
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), raw[:300]
    assert json.loads(body)["path"] == "/abs?k=1"
    # Another host reaching this server (the default of its address) is not a dev URL.
    assert stack.via_nginx("GET", "coder.test", "/api/v2/buildinfo").status_code == 404
    # nginx never serves the authorization to a visitor.
    assert stack.via_nginx("GET", host, authorize.PATH).status_code == 404


def test_a_browser_is_sent_to_sign_in_and_comes_back_with_the_cookie(stack, people, echo):
    owner, organization, tokens = people
    workspace = make_workspace(owner, organization=organization, name="browse")
    make_devurl(workspace, echo.port, access="PRIVATE", name="browse")
    host = dev_host("browse--nxowner")
    page = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    bounced = stack.via_nginx("GET", host, "/deep/page?tab=2", headers=page)
    assert bounced.status_code == 302
    wanted = quote(f"http://{host}/deep/page?tab=2", safe="")
    assert bounced.headers["Location"] == f"http://coder.test/api/v0/devurls/ticket?url={wanted}"
    # A script (no HTML wanted), a POST and a WebSocket get pycoderd's 401 with the hint.
    for method, headers in (("GET", {}), ("POST", page)):
        refused = stack.via_nginx(method, host, "/deep/page?tab=2", headers=headers)
        assert refused.status_code == 401
        assert wanted in refused.json()["error"]["details"]
    # Signed in on the API host, the browser follows the redirect: ticket, cookie, page.
    issued = requests.get(
        f"{stack.server.url}/api/v0/devurls/ticket?url={wanted}",
        cookies={"coder_session_token": tokens["owner"]},
        allow_redirects=False,
        timeout=10,
    )
    assert issued.status_code == 302, issued.text
    redeem = issued.headers["Location"].split(host, 1)[1]
    redeemed = stack.via_nginx("GET", host, redeem, headers=page)
    assert redeemed.status_code == 302
    assert redeemed.headers["Location"] == "/deep/page?tab=2"
    cookie = redeemed.headers["Set-Cookie"].split(";", 1)[0]
    assert stack.via_nginx("GET", host, redeem).status_code == 401  # used up
    shown = stack.via_nginx("GET", host, "/deep/page?tab=2", headers={**page, "Cookie": cookie})
    assert shown.status_code == 200
    assert shown.json()["path"] == "/deep/page?tab=2"
    assert "cookie" not in shown.json()["headers"]
    assert _forwarded_for(shown.json()) == ["127.0.0.1"]


def _ws(stack, host, **kwargs):
    sock = socket.create_connection(("127.0.0.1", stack.port), timeout=10)
    return connect(
        f"ws://{host}/echo",
        sock=sock,
        proxy=None,
        compression=None,
        ping_interval=None,
        open_timeout=10,
        close_timeout=5,
        **kwargs,
    )


def test_websockets_through_nginx_keep_the_origin_rule(stack, people):
    owner, organization, tokens = people
    app = WebSocketUpstream()
    try:
        workspace = make_workspace(owner, organization=organization, name="sock")
        make_devurl(workspace, app.port, access="PRIVATE", name="sock")
        host = dev_host("sock--nxowner")
        cookie = {"Cookie": f"coder_session_token={tokens['owner']}; theme=dark"}
        # Issue 14 finding 10: another origin with the visitor's cookie is refused.
        for origin in ("http://evil.example", "null"):
            with pytest.raises(InvalidStatus) as refused:
                _ws(stack, host, origin=origin, additional_headers=cookie)
            assert refused.value.response.status_code == 403
        assert app.requests == []
        with pytest.raises(InvalidStatus) as anonymous:
            _ws(stack, host)
        assert anonymous.value.response.status_code == 401
        member = {"Coder-Session-Token": tokens["member"]}
        with pytest.raises(InvalidStatus) as foreign:
            _ws(stack, host, additional_headers=member)
        assert foreign.value.response.status_code == 403
        with _ws(stack, host, origin=f"http://{host}", additional_headers=cookie) as ws:
            ws.send("through nginx")
            assert ws.recv(timeout=5) == "through nginx"
            ws.send("headers")
            seen = json.loads(ws.recv(timeout=5))
        assert seen["headers"]["cookie"] == "theme=dark"
        assert tokens["owner"] not in json.dumps(seen)
        assert seen["headers"]["x-forwarded-for"] == "127.0.0.1"
    finally:
        app.stop()


def test_a_smuggled_request_does_not_cross_visitors(stack, people):
    """Issue 14 finding 2 through nginx: each exchange with the app has its own connection."""
    owner, organization, tokens = people
    app = BodyIgnoringApp()
    try:
        workspace = make_workspace(owner, organization=organization, name="shop")
        make_devurl(workspace, app.port, access="PUBLIC", name="shop")
        host = dev_host("shop--nxowner")
        owner_headers = {"Cookie": "app_user=owner", "Coder-Session-Token": tokens["owner"]}
        for round_ in range(3):
            attacker = stack.via_nginx("GET", host, "/", data=SMUGGLED)
            assert attacker.json() == {"path": "/", "who": "nobody"}
            mine = stack.via_nginx("GET", host, f"/private/{round_}", headers=owner_headers)
            assert mine.json() == {"path": f"/private/{round_}", "who": "owner"}
            again = stack.via_nginx("GET", host, "/next")
            assert again.json() == {"path": "/next", "who": "nobody"}
    finally:
        app.stop()


def test_the_authorization_answers_trusted_proxies_only(make_app, echo):
    """Straight to pycoderd, a forged X-Forwarded-For does not make a caller a trusted proxy."""
    app = make_app(
        **SETTINGS,
        CODER_PROXY_TRUSTED_ORIGINS="10.9.0.0/16",
        CODER_PROXY_TRUSTED_HEADERS="X-Forwarded-For",
    )
    owner = make_user(username="nxsolo")
    make_devurl(make_workspace(owner, name="solo"), echo.port, access="PUBLIC", name="solo")
    client = app.test_client()
    host = dev_host("solo--nxsolo")
    original = {
        "Host": host,
        authorize.ORIGINAL_METHOD: "GET",
        authorize.ORIGINAL_URI: "/x?coder_session_token=t&k=v",
    }
    client.set_cookie("coder_session_token", "t", domain=host)
    client.set_cookie("a", "b", domain=host)
    forged = client.get(
        authorize.PATH,
        headers={**original, "X-Forwarded-For": "10.9.0.1"},
        environ_base={"REMOTE_ADDR": "127.0.0.1"},
    )
    assert forged.status_code == 403
    assert forged.json["error"]["code"] == "forbidden"
    allowed = client.get(authorize.PATH, headers=original, environ_base={"REMOTE_ADDR": "10.9.0.1"})
    assert allowed.status_code == 200, allowed.text
    assert allowed.headers[authorize.UPSTREAM] == f"127.0.0.1:{echo.port}"
    assert allowed.headers[authorize.URI] == "/x?k=v"
    assert allowed.headers[authorize.COOKIE] == "a=b"
    assert allowed.data == b""
    # A target in absolute form names the path; the answer never leads nginx off the address.
    absolute = {**original, authorize.ORIGINAL_URI: f"http://{host}:1@evil.example/y?k=w"}
    answer = client.get(authorize.PATH, headers=absolute, environ_base={"REMOTE_ADDR": "10.9.0.1"})
    assert answer.status_code == 200, answer.text
    assert answer.headers[authorize.UPSTREAM] == f"127.0.0.1:{echo.port}"
    assert answer.headers[authorize.URI] == "/y?k=w"
