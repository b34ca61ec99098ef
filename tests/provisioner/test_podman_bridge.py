"""Workspaces on Podman's bridge network: the provisioner records each container's address.

The address is only compared with what `podman inspect` reports: tests never connect to it.
"""

import ipaddress

import pytest

from app.provisioner.stats import StatsCollector
from tests.factories import auth_headers, make_token, make_user
from tests.support.workspaces import make_image, podman_app, reload, run_jobs


def inspected_addresses(info: dict) -> set[str]:
    """Every address `podman inspect` names for a container, on any of its networks."""
    settings = info["NetworkSettings"]
    endpoints = [settings, *(settings.get("Networks") or {}).values()]
    return {
        endpoint[key]
        for endpoint in endpoints
        for key in ("IPAddress", "GlobalIPv6Address")
        if endpoint.get(key)
    }


@pytest.fixture
def bridge(make_app, podman_env):
    """An app building workspaces on the bridge network; their containers go afterwards."""
    app = podman_app(make_app, podman_env, CODER_WORKSPACE_NETWORK="bridge")
    try:
        yield app
    finally:
        podman_env.podman.remove_labelled()


def _recorded(workspace_id: str, pod) -> str:
    """The workspace's recorded address, checked against the running container's."""
    workspace = reload(workspace_id)
    assert workspace.container_status == "ON", workspace.stat_error
    info = pod.inspect(workspace.container_id)
    assert info["State"]["Running"] is True
    assert info["HostConfig"]["NetworkMode"] == "bridge"
    assert inspected_addresses(info) == {workspace.network_address}
    assert not ipaddress.ip_address(workspace.network_address).is_loopback
    return workspace.network_address


def test_bridge_address_is_recorded_refreshed_and_cleared(bridge, podman_env):
    client = bridge.test_client()
    headers = auth_headers(make_token(make_user(username="bridget")), "v0")
    image = make_image(podman_env.registry.host, podman_env.shell_repository)
    pod = podman_env.podman
    response = client.post(
        "/api/v0/workspaces", json={"name": "bridged", "image_id": image.id}, headers=headers
    )
    assert response.status_code == 201, response.json
    workspace_id = response.json["id"]
    run_jobs(bridge)
    first = _recorded(workspace_id, pod)

    # Recorded, never shown: no field of Coder's shapes carries it.
    for path in (
        f"/api/v0/workspaces/{workspace_id}",
        "/api/v0/workspaces",
        f"/api/v0/environments/{workspace_id}",
        f"/api/v0/workspaces/{workspace_id}/builds/latest/logs",
    ):
        shown = client.get(path, headers=headers)
        assert shown.status_code == 200, (path, shown.json)
        assert first not in shown.get_data(as_text=True), path

    # Stop: the container keeps no address, and neither does the workspace.
    assert client.put(f"/api/v0/workspaces/{workspace_id}/stop", headers=headers).status_code == 200
    run_jobs(bridge)
    stopped = reload(workspace_id)
    assert (stopped.container_status, stopped.network_address) == ("OFF", "")
    assert inspected_addresses(pod.inspect(stopped.container_id)) == set()

    # Start again (a rebuild): a new container, a new address. Podman's IPAM hands addresses out
    # round-robin, so the old one is not reused at once and a stale record would show.
    assert client.patch(f"/api/v0/workspaces/{workspace_id}", json={}, headers=headers).json
    run_jobs(bridge)
    second = _recorded(workspace_id, pod)
    assert second != first

    # Stopped and started behind pycoderd's back: the stats collector follows the address.
    collector = StatsCollector(bridge.config["SETTINGS"])
    container_id = reload(workspace_id).container_id
    pod.podman("stop", "-t", "0", container_id)
    collector.collect_once()
    assert (reload(workspace_id).container_status, reload(workspace_id).network_address) == (
        "OFF",
        "",
    )
    pod.podman("start", container_id)
    collector.collect_once()
    third = _recorded(workspace_id, pod)
    assert third != second

    # Delete: the workspace goes, and its container with it.
    assert client.delete(f"/api/v0/workspaces/{workspace_id}", headers=headers).status_code == 204
    run_jobs(bridge)
    assert reload(workspace_id) is None
    assert pod.inspect(container_id) is None
