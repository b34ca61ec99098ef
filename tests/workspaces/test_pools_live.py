"""Two resource pools on two real Podman services (two sockets): workspaces placed on each run
there and answer commands through their own pool's engine (as wsep and the SSH gateway reach
them); a cordoned pool takes no new workspace; one pool's engine stopped mid-test reports its
workspaces unreachable while the other pool's keep working."""

from __future__ import annotations

import asyncssh
import pytest

from app import db
from app.models import ResourcePool
from app.models.resource_pools import BUILT_IN_ID
from app.provisioner import background, pools
from app.provisioner.engine import ExecSpec
from app.provisioner.stats import POOL_DOWN_START, StatsCollector
from app.services import workspace_exec
from app.services.context import Caller
from app.ssh import logins
from app.ssh.server import Gateway
from tests.factories import auth_headers, make_token, make_user
from tests.support import processes
from tests.support.podman import ROOT_PREFIX, Podman
from tests.support.workspaces import make_image, podman_app, reload, run_jobs

POOLS = "/api/private/resource-pools"


@pytest.fixture
def second_podman(podman_env):
    """Another Podman service on a socket of its own: the second pool's engine."""
    podman = Podman(
        processes.owned_dir(ROOT_PREFIX),
        [podman_env.registry.host, podman_env.auth_registry.host],
    )
    try:
        podman.start()
        yield podman
    finally:
        podman.stop()  # removes what the tests left there (by the CLI: works once stopped too)


def _run(engine, container_id, *argv: str) -> bytes:
    """Run a command to its end (`engine` may be the SSH gateway, `container_id` its target)."""
    process = engine.exec(container_id, ExecSpec(argv=argv or ("hostname",), stdin=False))
    try:
        out = bytearray()
        while (chunks := process.read(30)) is not None:
            for _, data in chunks:
                out += data
        assert process.wait(30) == 0
        return bytes(out)
    finally:
        process.close()


def _through_wsep_path(app, owner, workspace_id: str) -> bytes:
    """What wsep does: the owner's target, its pool's engine, one command."""
    with app.app_context(), db.database.connection_context():
        target = workspace_exec.target(Caller(user=owner), workspace_id)
        opener = workspace_exec.engine_opener(
            target, app.config["SETTINGS"], app.config["SECRET_KEY"]
        )
    return _run(opener(), target.container_id, "hostname")


def _through_ssh_path(gateway: Gateway, workspace_id: str) -> bytes:
    """What the SSH gateway does with a login's target (logins.target names the workspace's
    pool: tests/ssh/test_logins.py): exec on that pool's engine."""
    workspace = reload(workspace_id)
    target = logins.Target(
        workspace.container_id, workspace.network_address, workspace.resource_pool_id
    )
    return _run(gateway, target)


def test_two_pools_on_two_podman_services(make_app, podman_env, second_podman):
    app = podman_app(
        make_app,
        podman_env,
        CODER_RESOURCE_POOL_ALLOWED_HOSTS=second_podman.url,
    )
    client = app.test_client()
    admin = auth_headers(make_token(make_user("site-admin", username="admin")), "v0")
    owner = make_user(username="dev")
    headers = auth_headers(make_token(owner), "v0")
    image = make_image(podman_env.registry.host, podman_env.shell_repository)
    settings, secret_key = app.config["SETTINGS"], app.config["SECRET_KEY"]

    # The built-in pool is the first Podman; the second is added as the classic CLI adds one.
    created = client.post(
        POOLS,
        json={
            "name": "pool-b",
            "type": "docker",
            "hostname": "",
            "cluster_address": second_podman.url,
        },
        headers=admin,
    )
    assert created.status_code == 201, created.json
    pool_b = created.json["id"]
    assert created.json["status"] == "ready", created.json
    with app.app_context():
        assert pools.check_all(settings, secret_key) == {BUILT_IN_ID: "ready", pool_b: "ready"}

    def create(name, **body):
        return client.post(
            "/api/v0/workspaces", json={"name": name, "image_id": image.id, **body}, headers=headers
        )

    on_a = create("on-a", resource_pool_id=BUILT_IN_ID)
    on_b = create("on-b", resource_pool_id=pool_b)
    assert on_a.status_code == 201 and on_b.status_code == 201, (on_a.json, on_b.json)
    run_jobs(app)
    a, b = reload(on_a.json["id"]), reload(on_b.json["id"])
    assert a.container_status == "ON" and b.container_status == "ON", (a.stat_error, b.stat_error)
    # Each container runs on its own pool's engine, and only there.
    assert podman_env.podman.inspect(a.container_id) is not None
    assert second_podman.inspect(a.container_id) is None
    assert second_podman.inspect(b.container_id) is not None
    assert podman_env.podman.inspect(b.container_id) is None

    # Commands reach each workspace through its own pool (wsep's and the SSH gateway's path).
    host_key = asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode()
    gateway = Gateway(settings, host_key, secret_key=secret_key)
    assert _through_wsep_path(app, owner, a.id).strip() == b"on-a"
    assert _through_wsep_path(app, owner, b.id).strip() == b"on-b"
    assert _through_ssh_path(gateway, b.id).strip() == b"on-b"

    # Cordoned: no new workspace on it; the default goes elsewhere; its workspaces keep going.
    cordon = client.post(f"{POOLS}/{pool_b}/cordon", json={"reason": "draining"}, headers=admin)
    assert cordon.status_code == 200 and cordon.json["cordoned"]
    refused = create("on-b2", resource_pool_id=pool_b)
    assert refused.status_code == 409 and "cordoned (draining)" in refused.json["error"]["msg"]
    default = create("elsewhere")
    assert default.status_code == 201 and default.json["resource_pool_id"] == BUILT_IN_ID
    assert _through_wsep_path(app, owner, b.id).strip() == b"on-b"

    # Pool B's engine stops: the health check finds it unreachable, its workspace's stats say
    # why, and pool A's workspace keeps answering and reporting.
    background.stop_process(second_podman.process)
    with app.app_context():
        verdicts = pools.check_all(settings, secret_key)
    assert verdicts == {BUILT_IN_ID: "ready", pool_b: "unreachable"}
    shown = client.get(f"{POOLS}/{pool_b}", headers=admin).json
    assert shown["status"] == "unreachable" and shown["status_error"]
    run_jobs(app)  # the default workspace's build
    collector = StatsCollector(settings, secret_key=secret_key)
    with app.app_context():
        collector.collect_once()
    b = reload(b.id)
    assert b.container_status == "UNKNOWN"
    assert b.stat_error.startswith(POOL_DOWN_START) and "pool-b" in b.stat_error
    a = reload(a.id)
    assert a.container_status == "ON" and a.stat_error == "", a.stat_error
    assert _through_wsep_path(app, owner, a.id).strip() == b"on-a"
    seen = client.get(f"/api/v0/workspaces/{b.id}", headers=headers).json
    assert "unreachable" in seen["latest_stat"]["stat_error"], seen["latest_stat"]
    assert seen["latest_stat"]["container_status"] == "UNKNOWN"
    # Its workspace cannot take commands; a pool with workspaces cannot be deleted.
    assert client.delete(f"{POOLS}/{pool_b}", headers=admin).status_code == 409
    with db.database.connection_context():
        assert ResourcePool.get_by_id(pool_b).status == "unreachable"

    # Pool B's engine comes back: ready again, its workspace ON with no error.
    second_podman.start()
    with app.app_context():
        assert pools.check_all(settings, secret_key)[pool_b] == "ready"
        collector.collect_once()
    b = reload(b.id)
    assert b.container_status == "ON" and b.stat_error == "", b.stat_error
    assert _through_wsep_path(app, owner, b.id).strip() == b"on-b"

    # Clean up: every workspace deleted on its own pool's engine.
    for workspace_id in (a.id, b.id, default.json["id"]):
        assert client.delete(f"/api/v0/workspaces/{workspace_id}", headers=headers).status_code in (
            200,
            204,
        )
    run_jobs(app)
    assert second_podman.inspect(b.container_id) is None
    assert client.delete(f"{POOLS}/{pool_b}", headers=admin).status_code == 204
    podman_env.podman.remove_labelled()
