"""Every dev URL host and SSH login names one target, whatever is created or renamed later."""

import datetime as dt
import logging

import pytest

from app import db
from app.models import DevURL, Workspace
from app.services import workspaces
from tests.devurls.conftest import dev_host, make_workspace
from tests.factories import auth_headers, make_token, make_user
from tests.support.workspaces import make_image


@pytest.fixture
def image(app):
    return make_image()


class Person:
    def __init__(self, client, image, username, email=None):
        self.client = client
        self.image = image
        self.user = make_user(username=username, email=email)
        self.headers = auth_headers(make_token(self.user), "v0")

    def workspace(self, name):
        """Create a workspace through the API; mark it running (no engine in these tests)."""
        response = self.client.post(
            "/api/v0/workspaces",
            json={"name": name, "image_id": self.image.id},
            headers=self.headers,
        )
        if response.status_code == 201:
            with db.database.connection_context():
                Workspace.update(container_status="ON", network_address="127.0.0.1").where(
                    Workspace.id == response.json["id"]
                ).execute()
        return response

    def devurl(self, workspace_id, **body):
        return self.client.post(
            f"/api/v0/workspaces/{workspace_id}/devurls", json=body, headers=self.headers
        )

    def rename(self, username):
        return self.client.patch(
            "/api/v0/users/me", json={"username": username}, headers=self.headers
        )


def _refused(response, field):
    assert response.status_code == 409, response.json
    assert response.json["error"]["code"] == "conflict"
    assert [d["field"] for d in response.json["error"]["details"]] == [field]


def test_a_self_rename_cannot_take_over_a_port_host(client, image, upstream):
    """The review's attack: `membera`'s `my-ws` and `ws-membera`'s `my` both spell
    18092--my-ws-membera; the attacker's PUBLIC dev URL answered for the victim's PRIVATE one."""
    victim = Person(client, image, "membera")
    victim_ws = victim.workspace("my-ws").json["id"]
    assert victim.devurl(victim_ws, port=upstream.port, access="PRIVATE").status_code == 201
    host = dev_host(f"{upstream.port}--my-ws-membera")

    attacker = Person(client, image, "attacker")
    assert attacker.rename("ws-membera").status_code == 200  # no workspace yet: no host
    _refused(attacker.workspace("my"), "name")
    # The other order: a workspace `my` first, then the rename.
    other = Person(client, image, "other")
    other_ws = other.workspace("my").json["id"]
    assert other.devurl(other_ws, port=upstream.port, access="PUBLIC").status_code == 201
    victim2 = Person(client, image, "memberb")
    assert victim2.workspace("my-ws").status_code == 201
    _refused(other.rename("ws-memberb"), "username")

    anonymous = client.get("/", base_url=f"http://{host}")
    assert anonymous.status_code == 401  # still the victim's PRIVATE dev URL
    owner = client.get("/", base_url=f"http://{host}", headers=victim.headers)
    assert owner.status_code == 200 and owner.json["port"] == upstream.port


def test_a_workspace_cannot_take_an_existing_port_host(client, image):
    first = Person(client, image, "ws-membera")
    assert first.workspace("my").status_code == 201
    second = Person(client, image, "membera")
    _refused(second.workspace("my-ws"), "name")
    # The same user's case variants spell the same host too.
    assert second.workspace("Box").status_code == 201
    _refused(second.workspace("box"), "name")


def test_named_hosts_cannot_be_spelled_twice(client, image):
    """`a` of user `b--c` and `a--b` of user `c` are both a--b--c."""
    first = Person(client, image, "b--c")
    first_ws = first.workspace("one").json["id"]
    assert first.devurl(first_ws, port=3000, name="a").status_code == 201
    second = Person(client, image, "c")
    second_ws = second.workspace("two").json["id"]
    _refused(second.devurl(second_ws, port=3000, name="a--b"), "name")
    created = second.devurl(second_ws, port=3000, name="other")
    assert created.status_code == 201
    renamed = client.put(
        f"/api/v0/workspaces/{second_ws}/devurls/{created.json['id']}",
        json={"name": "A--b"},
        headers=second.headers,
    )
    _refused(renamed, "name")
    # A user rename that would spell it is refused as well.
    fourth = Person(client, image, "b--q")
    assert fourth.devurl(fourth.workspace("four").json["id"], port=1, name="a").status_code == 201
    fifth = Person(client, image, "z")
    assert fifth.devurl(fifth.workspace("five").json["id"], port=1, name="a--b").status_code == 201
    _refused(fifth.rename("q"), "username")  # a--b--q


def test_ssh_logins_name_one_workspace(client, image):
    """`a`'s `b-c` and `a-b`'s `c` are both the SSH login a-b-c."""
    first = Person(client, image, "a")
    first_ws = first.workspace("b-c").json["id"]
    second = Person(client, image, "a-b")
    _refused(second.workspace("c"), "name")
    assert second.workspace("d").status_code == 201
    # A rename that would spell another workspace's login: `t`'s `r` as `p-q` is p-q-r.
    assert Person(client, image, "p").workspace("q-r").status_code == 201
    renamer = Person(client, image, "t")
    assert renamer.workspace("r").status_code == 201
    _refused(renamer.rename("p-q"), "username")
    with db.database.connection_context():
        found = workspaces.by_ssh_login("A-B-C")
        assert found.id == first_ws and found.user.username == "a"
        assert workspaces.by_ssh_login("a-b-d").user.username == "a-b"
        assert workspaces.by_ssh_login("a-b-x") is None
        assert workspaces.by_ssh_login("") is None


def test_a_user_rename_moves_every_name_along(client, image, upstream):
    person = Person(client, image, "mover")
    ws = person.workspace("box").json["id"]
    assert person.devurl(ws, port=upstream.port, name="web", access="PUBLIC").status_code == 201
    renamed = person.rename("moved")
    assert renamed.status_code == 200, renamed.json
    assert client.get("/", base_url=f"http://{dev_host('web--moved')}").status_code == 200
    assert client.get("/", base_url=f"http://{dev_host('web--mover')}").status_code == 404
    port_host = dev_host(f"{upstream.port}--box-moved")
    assert client.get("/", base_url=f"http://{port_host}").status_code == 200
    listed = client.get(f"/api/v0/workspaces/{ws}/devurls", headers=person.headers).json
    assert [d["url"] for d in listed] == ["http://web--moved.apps.test"]
    with db.database.connection_context():
        assert workspaces.by_ssh_login("moved-box").id == ws
        assert workspaces.by_ssh_login("mover-box") is None
    # The old names are free for someone else now.
    newcomer = Person(client, image, "mover", email="newcomer@example.com")
    assert newcomer.workspace("box").status_code == 201


def test_the_migration_keeps_the_first_of_colliding_names(app, caplog):
    """Rows from before the unique names: the oldest keeps a contested name, later ones are left
    without it (unreachable by it) and logged; the migration does not fail."""
    older = dt.datetime(2020, 1, 1)
    for username, workspace, devurl_name in (
        ("membera", "my-ws", "a"),  # label my-ws-membera, host a--membera
        ("ws-membera", "my", "a--membera"),  # label my-ws-membera; host a--membera--ws-membera
        ("b--c", "w1", "x"),  # host x--b--c
        ("c", "w2", "x--b"),  # host x--b--c
    ):
        workspace = make_workspace(make_user(username=username), name=workspace)
        with db.database.connection_context():
            Workspace.update(ssh_login=None, devurl_label=None, created_at=older).where(
                Workspace.id == workspace.id
            ).execute()
            DevURL.create(workspace=workspace, port=1, name=devurl_name, created_at=older)
        older += dt.timedelta(seconds=1)

    assert "0008_unique_addresses" in db.downgrade("0008_unique_addresses")
    with caplog.at_level(logging.WARNING, logger="pycoderd.migrations"):
        assert "0008_unique_addresses" in db.upgrade()
    with db.database.connection_context():
        rows = {w.user.username: w for w in Workspace.select()}
        hosts = {d.workspace.user.username: d.host_label for d in DevURL.select()}
    assert rows["membera"].devurl_label == "my-ws-membera"
    assert rows["ws-membera"].devurl_label is None  # the later one
    assert rows["ws-membera"].ssh_login == "ws-membera-my"  # not contested
    assert hosts == {
        "membera": "a--membera",
        "ws-membera": "a--membera--ws-membera",
        "b--c": "x--b--c",
        "c": None,
    }
    logged = [r.getMessage() for r in caplog.records if r.name == "pycoderd.migrations"]
    assert len(logged) == 2 and all("left unset" in m for m in logged)
