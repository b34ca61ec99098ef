"""Fixtures for dev URLs: an app with a wildcard, workspaces as rows, a real upstream."""

from __future__ import annotations

import itertools
import socket

import pytest

from app import db
from app.models import DevURL, Image, Organization, Registry, Workspace
from app.services import addresses, organizations
from tests.devurls.upstream import Upstream
from tests.support import live_server

WILDCARD = "*.apps.test"
SETTINGS = {
    "CODER_ACCESS_URL": "http://coder.test",
    "CODER_WILDCARD_ACCESS_URL": WILDCARD,
    "CODER_WORKSPACE_NETWORK": "host",
    "CODER_DEVURL_PROXY_TIMEOUT": "2s",
}
_counter = itertools.count(1)


@pytest.fixture
def app(make_app):
    return make_app(**SETTINGS)


@pytest.fixture
def upstream():
    server = Upstream()
    yield server
    server.stop()


@pytest.fixture
def closed_port():
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def live_proxy(tmp_path, pg_database, **env):
    """A real `pycoderd server` on the test's own database, serving dev URLs on the host network.

    A generator for fixtures: yields the server, then stops it.
    """
    env = {
        "CODER_SQLITE_PATH": str(tmp_path / "pycoderd.sqlite3"),
        "CODER_WILDCARD_ACCESS_URL": WILDCARD,
        "CODER_WORKSPACE_NETWORK": "host",
        **env,
    }
    if pg_database:
        env["CODER_PG_CONNECTION_URL"] = pg_database
    live = live_server.start(tmp_path, env)
    yield live
    live_server.stop(live)


def make_organization(*members):
    n = next(_counter)
    with db.database.connection_context():
        organization = Organization.create(name=f"org{n}")
        for user in members:
            organizations.add_member(organization, user)
    return organization


def make_workspace(owner, *, organization=None, status="ON", name=None, network_address=""):
    """A workspace row (no container): for the proxy, only its state, address and owner
    matter."""
    n = next(_counter)
    with db.database.connection_context():
        organization = organization or organizations.default_organization()
        registry = Registry.create(
            organization=organization, friendly_name=f"r{n}", registry="127.0.0.1:5000"
        )
        image = Image.create(organization=organization, registry=registry, repository=f"img{n}")
        name = name or f"ws{n}"
        return Workspace.create(
            name=name,
            user=owner,
            organization=organization,
            image=image,
            container_status=status,
            network_address=network_address,
            **addresses.workspace_names(name, owner.username),
        )


def make_devurl(workspace, port, *, name=None, access="PRIVATE", scheme="http"):
    """A dev URL row with its host label, as the service would store it."""
    with db.database.connection_context():
        return DevURL.create(
            workspace=workspace,
            port=port,
            name=name,
            access=access,
            scheme=scheme,
            host_label=addresses.devurl_host_label(name, workspace.user.username),
        )


def dev_host(label: str) -> str:
    return f"{label}.apps.test"
