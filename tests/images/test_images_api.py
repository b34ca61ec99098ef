"""/api/v0/images and tags against a real registry: import, digests, refresh, errors, access."""

import json
import threading
import time

import pytest

from app import crypto, db
from app.models import AuditLog, Image, Registry, Workspace
from app.provisioner import background
from app.services import images, registries
from tests import client_types
from tests.support.live_server import free_port
from tests.support.workspaces import make_image

FORM = "application/x-www-form-urlencoded"  # what curl says for --data without a Content-Type


def new_registry(reg, **extra):
    body = {"friendly_name": "local", "registry": reg.host}
    if reg.username:
        body.update(username=reg.username, password=reg.password)
    return {**body, **extra}


def import_image(client, person, org_id, reg, repository, tag="latest", **fields):
    body = {"org_id": org_id, "repository": repository, "tag": tag, **fields}
    body.setdefault("new_registry", new_registry(reg))
    if "registry_id" in body:
        body.pop("new_registry")
    return client.post("/api/v0/images", json=body, headers=person.headers)


def audit_rows(resource_type, action=None):
    with db.database.connection_context():
        query = AuditLog.select().where(AuditLog.resource_type == resource_type)
        if action:
            query = query.where(AuditLog.action == action)
        return list(query.order_by(AuditLog.time))


def test_import_records_digest_and_os_release_then_refresh_sees_a_new_push(
    client, people, registry
):
    first = registry.push_image("api/refresh", "latest")
    answer = import_image(
        client, people.admin, people.org_id, registry, "api/refresh", default_memory_gb=2
    )
    assert answer.status_code == 201, answer.json
    image = answer.json
    assert image["repository"] == "api/refresh"
    assert image["organization_id"] == people.org_id
    assert image["registry"]["registry"] == registry.host
    assert image["default_memory_gb"] == 2
    assert image["default_tag"]["tag"] == "latest"
    assert image["default_tag"]["latest_hash"] == first
    assert image["default_tag"]["os_release"] == {
        "id": "busyboxtest",
        "pretty_name": "Busybox Test Linux 1.0",
        "home_url": "https://busybox.net/",
    }
    assert image["workspaces"] == []

    second = registry.push_image(
        "api/refresh", "latest", os_release='ID=second\nPRETTY_NAME="Second"\n'
    )
    assert second != first
    for path in (f"/api/v0/images/{image['id']}", f"/api/v0/images/{image['id']}/tags/update"):
        refreshed = client.post(path, data="{}", content_type=FORM, headers=people.member.headers)
        assert refreshed.status_code == 200, refreshed.json
        assert refreshed.json["default_tag"]["latest_hash"] == second
        assert refreshed.json["default_tag"]["os_release"]["id"] == "second"
    writes = audit_rows("image_tag", "write")
    assert len(writes) == 1  # the second refresh found nothing new
    assert json.loads(writes[0].diff)["latest_hash"] == {"old": first, "new": second}
    assert writes[0].username == people.member.user.username


def test_seed_calls_as_written(client, people, registry):
    registry.push_image("marktmilligan/intellij-ultimate", "2020.3.4")
    registry.push_image("seed/base", "latest")
    first = import_image(client, people.admin, people.org_id, registry, "seed/base")
    reg_id = first.json["registry"]["id"]
    # Example: import a container image (with Content-Type, registry_id)
    body = json.dumps(
        {
            "default_cpu_cores": 4,
            "default_disk_gb": 4,
            "default_memory_gb": 10,
            "description": "IntelliJ 2020.3.4",
            "org_id": people.org_id,
            "registry_id": reg_id,
            "repository": "marktmilligan/intellij-ultimate",
            "tag": "2020.3.4",
        }
    )
    answer = client.post(
        "/api/v0/images", data=body, content_type="application/json", headers=people.admin.headers
    )
    assert answer.status_code == 201, answer.json
    image_id = answer.json["id"]
    assert answer.json["default_cpu_cores"] == 4 and answer.json["default_tag"]["tag"] == "2020.3.4"
    # Example: get the workspaces built with a specific image
    got = client.get(f"/api/v0/images/{image_id}", headers=people.admin.headers)
    assert got.status_code == 200 and got.json["workspaces"] == []
    # Example: get info about an image tag (and workspaces built with it)
    tag = client.get(f"/api/v0/images/{image_id}/tags/2020.3.4", headers=people.admin.headers)
    assert tag.status_code == 200 and tag.json["image_id"] == image_id
    assert tag.json["workspaces"] == []
    # Example: get the images authorized in a specific organization (trailing slash)
    listed = client.get(
        f"/api/v0/images/?org={people.org_id}&workspaces=false", headers=people.admin.headers
    )
    assert listed.status_code == 200
    assert {i["id"] for i in listed.json} == {image_id, first.json["id"]}
    assert all("workspaces" not in i for i in listed.json)
    # Example: update image tags from a registry (--data "{}", no Content-Type)
    refreshed = client.post(
        f"/api/v0/images/{image_id}", data="{}", content_type=FORM, headers=people.admin.headers
    )
    assert refreshed.status_code == 200
    # Example: update the compute resources baseline (no Content-Type)
    patched = client.patch(
        f"/api/v0/images/{image_id}",
        data='{\n  "default_memory_gb": 8,\n'
        '  "description": "3/26/22 increased RAM from 4 to 8 GB"\n}',
        content_type=FORM,
        headers=people.admin.headers,
    )
    assert patched.status_code == 200, patched.json
    assert patched.json["default_memory_gb"] == 8
    assert patched.json["description"] == "3/26/22 increased RAM from 4 to 8 GB"
    assert patched.json["default_cpu_cores"] == 4  # untouched
    # Example: deprecate an image (no Content-Type header at all)
    deprecated = client.patch(
        f"/api/v0/images/{image_id}", data='{"deprecated": true}', headers=people.admin.headers
    )
    assert deprecated.status_code == 200 and deprecated.json["deprecated"] is True
    # nulls leave fields unchanged
    nulls = client.patch(
        f"/api/v0/images/{image_id}",
        json={"description": None, "deprecated": None, "default_memory_gb": None},
        headers=people.admin.headers,
    )
    assert nulls.json["description"] == "3/26/22 increased RAM from 4 to 8 GB"
    assert nulls.json["deprecated"] is True and nulls.json["default_memory_gb"] == 8
    changes = json.loads(audit_rows("image", "write")[0].diff)
    assert changes["default_memory_gb"] == {"old": 10, "new": 8}


def test_each_registry_failure_has_its_own_400(client, people, registry, auth_registry):
    registry.push_image("api/errors", "v1", busybox=False)
    missing = import_image(client, people.admin, people.org_id, registry, "api/errors", tag="v2")
    assert missing.status_code == 400
    assert missing.json["error"]["code"] == "image_not_found"
    assert "api/errors:v2 was not found" in missing.json["error"]["msg"]

    closed = f"127.0.0.1:{free_port()}"
    app_hosts = client.application.config["SETTINGS"]["pycoderd.registry_insecure"]
    app_hosts.append(closed)
    body = {"friendly_name": "closed", "registry": closed}
    gone = import_image(
        client, people.admin, people.org_id, registry, "api/errors", tag="v1", new_registry=body
    )
    assert gone.status_code == 400
    assert gone.json["error"]["code"] == "registry_unreachable"
    assert "cannot be reached" in gone.json["error"]["msg"]

    auth_registry.push_image("api/private", "v1", busybox=False)
    wrong = new_registry(auth_registry, password="not-the-password")
    denied = import_image(
        client, people.admin, people.org_id, auth_registry, "api/private", "v1", new_registry=wrong
    )
    assert denied.status_code == 400
    assert denied.json["error"]["code"] == "registry_unauthorized"
    assert "rejected the username or password" in denied.json["error"]["msg"]

    unlisted = {"registry": registry.host.replace("127.0.0.1", "127.0.0.2")}
    refused = import_image(
        client, people.admin, people.org_id, registry, "api/errors", "v1", new_registry=unlisted
    )
    assert refused.status_code == 400
    assert refused.json["error"]["code"] == "registry_refused"
    assert "CODER_REGISTRY_INSECURE" in refused.json["error"]["msg"]

    with db.database.connection_context():
        assert Image.select().count() == 0 and Registry.select().count() == 0

    right = import_image(client, people.admin, people.org_id, auth_registry, "api/private", "v1")
    assert right.status_code == 201, right.json
    assert right.json["default_tag"]["os_release"]["id"] == "busyboxtest"


def test_refused_registry_error_does_not_tell_what_a_host_resolves_to(client, people, registry):
    """Issue 14, finding 17: refusing `localhost:<port>` said "resolves to the non-public
    address 127.0.0.1", a lookup of any internal name for whoever may add a registry."""
    registry.push_image("api/refused", "v1", busybox=False)
    port = registry.host.rsplit(":", 1)[1]
    for name in ("localhost", "LocalHost"):
        body = {"friendly_name": "internal", "registry": f"{name}:{port}"}
        refused = import_image(
            client, people.admin, people.org_id, registry, "api/refused", "v1", new_registry=body
        )
        assert refused.status_code == 400
        error = refused.json["error"]
        assert error["code"] == "registry_refused"
        assert f"registry host localhost:{port} is not allowed" in error["msg"]
        text = refused.get_data(as_text=True)
        assert "127.0.0.1" not in text and "::1" not in text, text


def test_registry_credentials_are_encrypted_and_never_returned(client, app, people, auth_registry):
    auth_registry.push_image("api/creds", "latest", busybox=False)
    answer = import_image(client, people.admin, people.org_id, auth_registry, "api/creds")
    assert answer.status_code == 201
    assert auth_registry.password not in answer.get_data(as_text=True)
    reg_id = answer.json["registry"]["id"]
    with db.database.connection_context():
        stored = Registry.get_by_id(reg_id)
    assert auth_registry.password not in stored.password_encrypted
    assert crypto.decrypt(app.config["SECRET_KEY"], stored.password_encrypted) == (
        auth_registry.password
    )
    for path in ("/api/v0/registries", f"/api/v0/registries/{reg_id}"):
        got = client.get(path, headers=people.admin.headers)
        assert got.status_code == 200
        assert "password" not in got.get_data(as_text=True)
    created = json.loads(audit_rows("registry", "create")[0].diff)
    assert created["password"] == {"old": "", "new": "******"}


def test_members_import_and_refresh_but_only_managers_edit(client, people, registry):
    registry.push_image("api/perms", "latest", busybox=False)
    admin = import_image(client, people.admin, people.org_id, registry, "api/perms")
    image_id, reg_id = admin.json["id"], admin.json["registry"]["id"]
    registry.push_image("api/perms2", "latest", busybox=False)
    by_member = import_image(
        client, people.member, people.org_id, registry, "api/perms2", registry_id=reg_id
    )
    assert by_member.status_code == 201, by_member.json
    # a member cannot bring a new registry into the organization
    registry.push_image("api/perms3", "latest", busybox=False)
    new_reg = import_image(client, people.member, people.org_id, registry, "api/perms3")
    assert new_reg.status_code == 403

    path = f"/api/v0/images/{image_id}"
    member = people.member.headers
    assert client.get(path, headers=member).status_code == 200
    assert client.post(path, data="{}", headers=member).status_code == 200
    assert client.patch(path, data='{"deprecated": true}', headers=member).status_code == 403
    assert client.patch(path, json={"description": "x"}, headers=member).status_code == 403
    assert client.delete(path, headers=member).status_code == 403
    assert client.delete(f"{path}/tags/latest", headers=member).status_code == 403
    reg_path = f"/api/v0/registries/{reg_id}"
    assert client.get(reg_path, headers=member).status_code == 200
    assert client.patch(reg_path, json={"friendly_name": "x"}, headers=member).status_code == 403

    manager = people.org_manager.headers
    deprecated = client.patch(path, data='{"deprecated": true}', headers=manager)
    assert deprecated.status_code == 200 and deprecated.json["deprecated"] is True
    # registries are site managers' and admins' (SPEC §3), not an organization's managers'
    refused = client.patch(reg_path, data='{"friendly_name": "renamed"}', headers=manager)
    assert refused.status_code == 403
    site_manager = people.site_manager.headers
    renamed = client.patch(reg_path, data='{"friendly_name": "renamed"}', headers=site_manager)
    assert renamed.status_code == 200 and renamed.json["friendly_name"] == "renamed"

    outsider = people.outsider.headers
    for url in (
        path,
        f"{path}/tags",
        f"{path}/tags/latest",
        f"/api/v0/images?org={people.org_id}",
        reg_path,
        f"/api/v0/registries?org={people.org_id}",
    ):
        assert client.get(url, headers=outsider).status_code == 404, url
    assert client.post(path, data="{}", headers=outsider).status_code == 404
    assert client.patch(path, json={"deprecated": False}, headers=outsider).status_code == 404
    assert client.delete(path, headers=outsider).status_code == 404
    assert client.get("/api/v0/images", headers=outsider).json == []
    assert client.get("/api/v0/registries", headers=outsider).json == []
    assert client.get("/api/v0/images", headers=member).status_code == 200
    assert {i["id"] for i in client.get("/api/v0/images/", headers=member).json} == {
        image_id,
        by_member.json["id"],
    }
    hidden = import_image(
        client, people.outsider, people.org_id, registry, "api/perms", registry_id=reg_id
    )
    assert hidden.status_code == 404


def test_tags_add_get_delete_and_the_default_stays(client, people, registry):
    registry.push_image("api/tags", "latest", busybox=False)
    v2 = registry.push_image("api/tags", "v2", busybox=False, files={"/v": "2"})
    image_id = import_image(client, people.admin, people.org_id, registry, "api/tags").json["id"]
    base = f"/api/v0/images/{image_id}/tags"
    headers = people.admin.headers
    added = client.post(base, data='{"tag": "v2"}', headers=headers)
    assert added.status_code == 201, added.json
    assert added.json["latest_hash"] == v2 and added.json["tag"] == "v2"
    assert client.post(base, json={"tag": "v2"}, headers=headers).status_code == 409
    missing = client.post(base, json={"tag": "v3"}, headers=headers)
    assert missing.status_code == 400 and missing.json["error"]["code"] == "image_not_found"
    assert [t["tag"] for t in client.get(base, headers=headers).json] == ["latest", "v2"]
    assert client.get(f"{base}/v2", headers=headers).json["latest_hash"] == v2
    assert client.get(f"{base}/nope", headers=headers).status_code == 404

    kept = client.delete(f"{base}/latest", headers=headers)
    assert kept.status_code == 409 and "default tag" in kept.json["error"]["msg"]
    bad_default = client.patch(
        f"/api/v0/images/{image_id}", json={"default_tag": "v9"}, headers=headers
    )
    assert bad_default.status_code == 400
    switched = client.patch(
        f"/api/v0/images/{image_id}", json={"default_tag": "v2"}, headers=headers
    )
    assert switched.json["default_tag"]["latest_hash"] == v2
    assert client.delete(f"{base}/latest", headers=headers).status_code == 204
    assert [t["tag"] for t in client.get(base, headers=headers).json] == ["v2"]
    assert [r.action for r in audit_rows("image_tag")] == ["create", "create", "delete"]


def test_workspaces_are_embedded_and_block_deletion(client, people, registry):
    registry.push_image("api/ws", "latest", busybox=False)
    image = import_image(client, people.admin, people.org_id, registry, "api/ws").json
    with db.database.connection_context():
        workspace = Workspace.create(
            name="dev",
            user=people.member.user.id,
            organization=people.org_id,
            image=image["id"],
            image_tag="latest",
            auto_off_threshold_ms=3600000,
        )
        Workspace.create(
            name="other",
            user=people.org_manager.user.id,
            organization=people.org_id,
            image=image["id"],
        )
    got = client.get(f"/api/v0/images/{image['id']}", headers=people.admin.headers).json
    assert len(got["workspaces"]) == 2
    shown = next(w for w in got["workspaces"] if w["id"] == workspace.id)
    assert shown["name"] == "dev" and shown["image_id"] == image["id"]
    assert shown["auto_off_threshold"] == 3600000
    assert shown["latest_stat"]["container_status"] == "CREATING"
    assert shown["rebuild_messages"] == [] and shown["updating"] is False
    assert len(got["default_tag"]["workspaces"]) == 2
    # a member sees only their own workspaces
    mine = client.get(f"/api/v0/images/{image['id']}", headers=people.member.headers).json
    assert [w["id"] for w in mine["workspaces"]] == [workspace.id]
    hidden = client.get(
        f"/api/v0/images/{image['id']}?workspaces=false", headers=people.admin.headers
    ).json
    assert "workspaces" not in hidden

    blocked = client.delete(f"/api/v0/images/{image['id']}", headers=people.admin.headers)
    assert blocked.status_code == 409
    reg_blocked = client.delete(
        f"/api/v0/registries/{image['registry']['id']}", headers=people.admin.headers
    )
    assert reg_blocked.status_code == 409
    with db.database.connection_context():
        Workspace.delete().execute()
    assert (
        client.delete(f"/api/v0/images/{image['id']}", headers=people.admin.headers).status_code
        == 204
    )
    assert (
        client.get(f"/api/v0/images/{image['id']}", headers=people.admin.headers).status_code == 404
    )
    assert (
        client.delete(
            f"/api/v0/registries/{image['registry']['id']}", headers=people.admin.headers
        ).status_code
        == 204
    )
    assert [r.action for r in audit_rows("image")] == ["create", "delete"]
    assert [r.action for r in audit_rows("registry")] == ["create", "delete"]


def test_registry_patch_checks_new_credentials(client, people, auth_registry):
    auth_registry.push_image("api/regpatch", "latest", busybox=False)
    answer = import_image(client, people.admin, people.org_id, auth_registry, "api/regpatch")
    path = f"/api/v0/registries/{answer.json['registry']['id']}"
    wrong = client.patch(path, data='{"password": "nope"}', headers=people.admin.headers)
    assert wrong.status_code == 400 and wrong.json["error"]["code"] == "registry_unauthorized"
    same = client.patch(
        path,
        json={"password": auth_registry.password, "username": None},
        headers=people.admin.headers,
    )
    assert same.status_code == 200
    listed = client.get(
        f"/api/v0/registries?org={people.org_id}", headers=people.member.headers
    ).json
    assert [r["id"] for r in listed] == [answer.json["registry"]["id"]]


def test_refresh_all_updates_every_image(app, client, people, registry):
    registry.push_image("api/hourly", "latest", busybox=False)
    image_id = import_image(client, people.admin, people.org_id, registry, "api/hourly").json["id"]
    newer = registry.push_image("api/hourly", "latest", busybox=False, files={"/n": "1"})
    with app.app_context(), db.database.connection_context():
        counts = images.refresh_all(registries.access(app.config))
        assert counts == {"images": 1, "changed_tags": 1, "failed": 0}
        assert images.get_tag(people.admin.user, image_id, "latest").latest_hash == newer
    system = audit_rows("image_tag", "write")[0]
    assert system.user_id is None and system.user_agent == "pycoderd"


def test_background_loop_refreshes_tags(app, client, people, registry):
    assert "app.services.images:start_refresh_thread" in background.LOOPS
    registry.push_image("api/looped", "latest", busybox=False)
    image_id = import_image(client, people.admin, people.org_id, registry, "api/looped").json["id"]
    newer = registry.push_image("api/looped", "latest", busybox=False, files={"/n": "2"})
    stop = threading.Event()
    thread = images.start_refresh_thread(app, stop, interval=0.2)
    try:
        for _ in range(100):
            with app.app_context(), db.database.connection_context():
                tag = images.get_tag(people.admin.user, image_id, "latest")
            if tag.latest_hash == newer:
                break
            time.sleep(0.1)
        assert tag.latest_hash == newer
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()


@pytest.mark.parametrize(
    "body",
    [
        {"repository": "x"},
        {"repository": "x", "registry_id": "a", "new_registry": {"registry": "h"}},
        {"repository": "Bad Name", "new_registry": {"registry": "example.com"}},
        {"repository": "x", "new_registry": {"registry": "http://evil/"}},
        {"repository": "x", "tag": "no spaces", "new_registry": {"registry": "example.com"}},
        {"repository": "x\u0000", "new_registry": {"registry": "example.com"}},
    ],
)
def test_bad_import_bodies_are_400_without_contacting_anything(client, people, body):
    answer = client.post("/api/v0/images", json=body, headers=people.admin.headers)
    assert answer.status_code == 400, answer.json


def test_import_through_a_token_service(client, people, token_registry):
    digest = token_registry.push_image("api/tokened", "stable", busybox=False)
    answer = import_image(
        client, people.admin, people.org_id, token_registry, "api/tokened", "stable"
    )
    assert answer.status_code == 201, answer.json
    assert answer.json["default_tag"]["latest_hash"] == digest
    refreshed = client.post(f"/api/v0/images/{answer.json['id']}", headers=people.member.headers)
    assert refreshed.status_code == 200


def test_edits_write_their_entries(client, people):
    """An image edit that changes nothing writes nothing; a registry edit always saves and
    writes its entry (both through audit.write)."""
    image = make_image(repository="api/edited", organization_id=people.org_id)
    image_path, registry_path = (
        f"/api/v0/images/{image.id}",
        f"/api/v0/registries/{image.registry_id}",
    )
    headers = people.admin.headers
    for _ in range(2):
        edited = client.patch(image_path, json={"url": "https://x.test"}, headers=headers)
        renamed = client.patch(registry_path, json={"friendly_name": "hub"}, headers=headers)
        assert (edited.status_code, renamed.status_code) == (200, 200), (edited.json, renamed.json)
    entries = [
        (
            row.resource_type,
            row.resource_id,
            row.resource_target,
            row.organization_id,
            json.loads(row.diff),
        )
        for row in audit_rows("image", "write") + audit_rows("registry", "write")
    ]
    assert entries == [
        (
            "image",
            image.id,
            "api/edited",
            people.org_id,
            {"url": {"old": "", "new": "https://x.test"}},
        ),
        (
            "registry",
            image.registry_id,
            "hub",
            people.org_id,
            {"friendly_name": {"old": "registry.invalid", "new": "hub"}},
        ),
        ("registry", image.registry_id, "hub", people.org_id, {}),
    ]


def _sdk_import_body(org_id, repository, *, registry_id=None, new_registry=None):
    """coder-sdk's ImportImageReq as json.Marshal writes it: no omitempty, so the unused one of
    registry_id / new_registry is null and every other field is there, zero or not."""
    return {
        "registry_id": registry_id,
        "new_registry": new_registry,
        "repository": repository,
        "org_id": org_id,
        "tag": "latest",
        "default_cpu_cores": 2.5,
        "default_memory_gb": 3,
        "default_disk_gb": 22,
        "description": "",
        "url": "",
    }


def test_import_as_the_classic_sdk_sends_it(client, people, registry):
    registry.push_image("sdk/new", "latest")
    registry.push_image("sdk/existing", "latest")
    new_registry = {
        "friendly_name": "local",
        "registry": registry.host,
        "username": "",
        "password": "",
    }
    body = _sdk_import_body(people.org_id, "sdk/new", new_registry=new_registry)
    first = client.post("/api/v0/images", json=body, headers=people.admin.headers)
    assert first.status_code == 201, first.json
    client_types.check(client_types.GO_IMAGE, first.json)
    assert first.json["registry"]["registry"] == registry.host

    registry_id = first.json["registry"]["id"]
    body = _sdk_import_body(people.org_id, "sdk/existing", registry_id=registry_id)
    second = client.post("/api/v0/images", json=body, headers=people.admin.headers)
    assert second.status_code == 201, second.json
    client_types.check(client_types.GO_IMAGE, second.json)
    assert second.json["registry"]["id"] == registry_id
    assert second.json["default_cpu_cores"] == 2.5 and second.json["default_disk_gb"] == 22
    with db.database.connection_context():
        assert Registry.select().where(Registry.organization_id == people.org_id).count() == 1


@pytest.mark.parametrize("given", ["neither", "both"])
def test_import_needs_exactly_one_registry(client, people, registry, given):
    new_registry = {"friendly_name": "x", "registry": registry.host, "username": "", "password": ""}
    if given == "neither":
        body = _sdk_import_body(people.org_id, "sdk/none")
    else:
        body = _sdk_import_body(
            people.org_id, "sdk/none", registry_id="some-id", new_registry=new_registry
        )
    answer = client.post("/api/v0/images", json=body, headers=people.admin.headers)
    assert answer.status_code == 400, answer.json
    client_types.check(client_types.GO_API_ERROR, answer.json)
    [detail] = answer.json["error"]["details"]
    assert detail["field"] == "registry_id"
    assert detail["detail"].startswith("exactly one of registry_id and new_registry must be set")


def test_organization_admin_cannot_create_or_change_registries(client, people, registry):
    """Issue 14 finding 14: an organization admin created registries; SPEC §3 reserves them to
    site managers and admins. Importing with a registry that exists stays open to members."""
    registry.push_image("api/orgadmin", "latest", busybox=False)
    refused = import_image(client, people.org_admin, people.org_id, registry, "api/orgadmin")
    assert refused.status_code == 403, refused.json
    with db.database.connection_context():
        assert Registry.select().count() == 0
    by_manager = import_image(client, people.site_manager, people.org_id, registry, "api/orgadmin")
    assert by_manager.status_code == 201, by_manager.json
    reg_path = f"/api/v0/registries/{by_manager.json['registry']['id']}"
    admin = people.org_admin.headers
    assert client.patch(reg_path, json={"friendly_name": "mine"}, headers=admin).status_code == 403
    assert client.delete(reg_path, headers=admin).status_code == 403
    registry.push_image("api/orgadmin2", "latest", busybox=False)
    reusing = import_image(
        client,
        people.org_admin,
        people.org_id,
        registry,
        "api/orgadmin2",
        registry_id=by_manager.json["registry"]["id"],
    )
    assert reusing.status_code == 201, reusing.json
