"""The proxy in front of a real workspace container (Podman, host network) serving HTTP."""

import pytest

from app import db
from app.models import Workspace
from tests.devurls.conftest import SETTINGS, make_organization
from tests.factories import auth_headers, make_token, make_user
from tests.support.workspaces import run_jobs


@pytest.fixture
def proxied(running_workspace, make_app, podman_env):
    """The running workspace's app rebuilt with a wildcard access URL (same database)."""
    app = make_app(**SETTINGS, CODER_DOCKER_HOST=podman_env.docker_host)
    return running_workspace, app, app.test_client()


def test_real_workspace_through_the_proxy(proxied):
    ws, app, client = proxied
    owner = auth_headers(ws.token, "v0")
    with db.database.connection_context():
        workspace = Workspace.get_by_id(ws.workspace_id)
    # The workspace is in the default organization, like every new user but the stranger.
    assert workspace.organization.is_default
    member = auth_headers(make_token(make_user(username="colleague")), "v0")
    elsewhere = make_organization()
    stranger = make_user(username="stranger", organization_ids=(elsewhere.id,))
    outsider = auth_headers(make_token(stranger), "v0")
    base = f"/api/v0/workspaces/{ws.workspace_id}/devurls"
    created = client.post(
        base, data=f'{{"access": "PRIVATE", "name": "site", "port": {ws.port}}}', headers=owner
    )
    assert created.status_code == 201, created.json
    devurl = created.json
    assert devurl["url"] == "http://site--wsowner.apps.test"

    def visit(headers=None):
        return client.get("/", base_url=devurl["url"], headers=headers or {})

    page = visit(owner)
    assert page.status_code == 200
    assert page.data.decode() == ws.body
    expected = {
        "PRIVATE": (401, 200, 403, 403),
        "ORG": (401, 200, 200, 403),
        "AUTHED": (401, 200, 200, 200),
        "PUBLIC": (200, 200, 200, 200),
    }
    for access, statuses in expected.items():
        changed = client.put(
            f"{base}/{devurl['id']}",
            data=f'{{"access": "{access}", "name": "site", "port": {ws.port}}}',
            headers=owner,
        )
        assert changed.json["access"] == access
        seen = tuple(visit(h).status_code for h in (None, owner, member, outsider))
        assert seen == statuses, access

    # Stopping the workspace stops the container: 502 with a clear message.
    stopped = client.put(f"/api/v0/workspaces/{ws.workspace_id}/stop", data="{}", headers=owner)
    assert stopped.status_code in (200, 202), stopped.json
    run_jobs(app)
    with db.database.connection_context():
        assert Workspace.get_by_id(ws.workspace_id).container_status == "OFF"
    down = visit(owner)
    assert down.status_code == 502
    assert down.json["error"]["msg"] == "The workspace is not running."

    # Deleting the dev URL stops the proxying for good.
    assert client.delete(f"{base}/{devurl['id']}", data="{}", headers=owner).status_code == 204
    assert visit(owner).status_code == 404
