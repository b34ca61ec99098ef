"""The proxy on the bridge network: it connects to the address recorded on the workspace.

Rows carry loopback addresses here (127.0.0.2 is loopback too, and not where the host network's
127.0.0.1 would lead): tests never connect to a container's bridge address.
"""

import pytest

from tests.devurls.conftest import SETTINGS, dev_host, make_workspace
from tests.devurls.upstream import Upstream
from tests.factories import auth_headers, make_token, make_user

ELSEWHERE = "127.0.0.2"


@pytest.fixture
def elsewhere():
    """An upstream on 127.0.0.2 only: reachable through a recorded address, not by default."""
    server = Upstream(ELSEWHERE)
    yield server
    server.stop()


def _client(make_app, network: str):
    return make_app(**{**SETTINGS, "CODER_WORKSPACE_NETWORK": network}).test_client()


def _public_devurl(client, workspace, token, port: int) -> str:
    response = client.post(
        f"/api/v0/workspaces/{workspace.id}/devurls",
        json={"port": port, "access": "PUBLIC", "name": f"p{port}"},
        headers=auth_headers(token, "v0"),
    )
    assert response.status_code == 201, response.json
    return response.json["url"]


def _visit(client, url: str, path: str = "/"):
    return client.get(path, base_url=url)


@pytest.mark.parametrize("network", ["bridge", "host"])
def test_the_recorded_address_is_where_requests_go(make_app, elsewhere, network):
    client = _client(make_app, network)
    owner = make_user(username="owner")
    workspace = make_workspace(owner, name="box", network_address=ELSEWHERE)
    url = _public_devurl(client, workspace, make_token(owner), elsewhere.port)
    response = _visit(client, url, "/hello?x=1")
    assert response.status_code == 200, response.json
    assert response.json["path"] == "/hello?x=1"
    assert response.json["headers"]["host"] == dev_host(f"p{elsewhere.port}--owner")


def test_bridge_workspace_with_a_loopback_address(make_app, upstream):
    client = _client(make_app, "bridge")
    owner = make_user(username="owner")
    workspace = make_workspace(owner, name="box", network_address="127.0.0.1")
    response = _visit(client, _public_devurl(client, workspace, make_token(owner), upstream.port))
    assert response.status_code == 200, response.json
    assert response.json["port"] == upstream.port


def test_bridge_workspace_without_an_address_is_502(make_app, upstream):
    client = _client(make_app, "bridge")
    owner = make_user(username="owner")
    workspace = make_workspace(owner, name="box")
    response = _visit(client, _public_devurl(client, workspace, make_token(owner), upstream.port))
    assert response.status_code == 502
    error = response.json["error"]
    assert error["code"] == "bad_gateway"
    assert error["msg"] == "The workspace's address is unknown."
    assert '"box"' in error["details"] and "rebuild" in error["details"]


def test_host_workspace_without_an_address_is_loopback(make_app, upstream):
    """Containers built before addresses were recorded: the host network is 127.0.0.1."""
    client = _client(make_app, "host")
    owner = make_user(username="owner")
    workspace = make_workspace(owner, name="box")
    response = _visit(client, _public_devurl(client, workspace, make_token(owner), upstream.port))
    assert response.status_code == 200, response.json
    assert response.json["port"] == upstream.port


def test_the_address_is_not_told_to_visitors(make_app, closed_port):
    client = _client(make_app, "bridge")
    owner = make_user(username="owner")
    workspace = make_workspace(owner, name="box", network_address=ELSEWHERE)
    response = _visit(client, _public_devurl(client, workspace, make_token(owner), closed_port))
    assert response.status_code == 502
    assert str(closed_port) in response.json["error"]["details"]
    assert ELSEWHERE not in response.get_data(as_text=True)
