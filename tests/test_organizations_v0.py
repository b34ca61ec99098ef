"""v0 organizations: list with members, create, patch (null = unchanged), members, delete."""

from app import db
from app.models import AuditLog, Image, Organization, Registry, Workspace
from tests.factories import auth_headers, make_token, make_user


def _v0(token):
    return auth_headers(token, "v0")


def test_organization_scenario(client):
    admin = make_user("site-admin")
    headers = _v0(make_token(admin))
    alice = make_user()
    created = client.post(
        "/api/v0/orgs",
        json={
            "name": "research",
            "description": "R&D",
            "auto_off_threshold": 3_600_000,
            "members": [alice.id],
        },
        headers=headers,
    )
    assert created.status_code == 201, created.json
    org = created.json
    assert org["auto_off_threshold"] == 3_600_000
    assert org["default"] is False
    assert [m["id"] for m in org["members"]] == [alice.id]
    assert org["members"][0]["organization_roles"] == ["organization-member"]
    assert org["workspace_count"] == 0
    dup = client.post("/api/v0/orgs", json={"name": "RESEARCH"}, headers=headers)
    assert dup.status_code == 409

    patched = client.patch(
        f"/api/v0/orgs/{org['id']}",
        json={"description": None, "cpu_provisioning_rate": 2.5},
        headers=headers,
    )
    assert patched.status_code == 200
    assert patched.json["description"] == "R&D"
    assert patched.json["cpu_provisioning_rate"] == 2.5
    bad = client.patch(
        f"/api/v0/orgs/{org['id']}", json={"auto_off_threshold": -1}, headers=headers
    )
    assert bad.status_code == 400

    alice_headers = _v0(make_token(alice))
    assert [o["name"] for o in client.get("/api/v0/orgs", headers=alice_headers).json] == [
        "default",
        "research",
    ]
    assert (
        client.patch(
            f"/api/v0/orgs/{org['id']}", json={"name": "mine"}, headers=alice_headers
        ).status_code
        == 403
    )
    bob = make_user()
    bob_headers = _v0(make_token(bob))
    assert client.get(f"/api/v0/orgs/{org['id']}", headers=bob_headers).status_code == 404

    added = client.post(
        f"/api/v0/orgs/{org['id']}/members",
        json={"user_id": bob.id, "roles": ["organization-manager"]},
        headers=headers,
    )
    assert added.status_code == 201
    assert added.json["organization_roles"] == ["organization-manager", "organization-member"]
    assert client.get(f"/api/v0/orgs/{org['id']}", headers=bob_headers).status_code == 200
    unknown_role = client.patch(
        f"/api/v0/orgs/{org['id']}/members/{bob.id}", json={"roles": ["boss"]}, headers=headers
    )
    assert unknown_role.status_code == 400
    demoted = client.patch(
        f"/api/v0/orgs/{org['id']}/members/{bob.id}", json={"roles": []}, headers=bob_headers
    )
    assert demoted.status_code == 200
    assert demoted.json["organization_roles"] == ["organization-member"]
    removed = client.delete(f"/api/v0/orgs/{org['id']}/members/{alice.id}", headers=headers)
    assert removed.status_code == 204
    members = client.get(f"/api/v0/orgs/{org['id']}/members", headers=headers).json
    assert [m["id"] for m in members] == [bob.id]

    assert client.delete("/api/v0/orgs/default", headers=headers).status_code == 400
    assert client.delete(f"/api/v0/orgs/{org['id']}", headers=bob_headers).status_code == 403
    assert client.delete(f"/api/v0/orgs/{org['id']}", headers=headers).status_code == 204
    with db.database.connection_context():
        assert Organization.get_or_none(Organization.id == org["id"]) is None
        kinds = {a.action for a in AuditLog.select().where(AuditLog.resource_id == org["id"])}
    assert kinds == {"create", "write", "delete"}


def test_workspace_count_counts_real_workspaces(client):
    admin = make_user("site-admin")
    headers = _v0(make_token(admin))
    with db.database.connection_context():
        default = Organization.get(Organization.is_default == True)  # noqa: E712
        registry = Registry.create(organization=default, friendly_name="r", registry="r.test")
        image = Image.create(organization=default, registry=registry, repository="busybox")
        Workspace.create(name="w1", user=admin.id, organization=default, image=image)
        Workspace.create(name="w2", user=admin.id, organization=default, image=image)
    shown = client.get("/api/v0/orgs/default", headers=headers).json
    assert shown["workspace_count"] == 2
    gone = client.delete(
        f"/api/v0/users/{admin.id}", headers=_v0(make_token(make_user("site-admin")))
    )
    assert gone.status_code == 409


def _org_with(**people_roles):
    """An organization and one user (with v0 headers) per named organization role list."""
    from app.services import organizations

    with db.database.connection_context():
        org = Organization.create(name=f"org-{next(iter(people_roles), 'x')}-{make_user().id[:8]}")
    people = {}
    for name, roles in people_roles.items():
        user = make_user(username=name)
        with db.database.connection_context():
            organizations.add_member(org, user, roles)
        people[name] = (user, _v0(make_token(user)))
    return org, people


def _org_roles(org, user):
    from app.models import OrganizationMember

    with db.database.connection_context():
        return OrganizationMember.get(
            (OrganizationMember.organization == org.id) & (OrganizationMember.user == user.id)
        ).roles


def test_organization_manager_cannot_grant_or_remove_organization_admin(client):
    """Issue 14 finding 6: an organization manager granted itself organization-admin and
    stripped the real admin. Only the organization's admins (and site staff) touch that role."""
    org, people = _org_with(boss=["organization-admin"], mgr=["organization-manager"], dev=[])
    (boss, boss_h), (mgr, mgr_h), (dev, _) = people["boss"], people["mgr"], people["dev"]
    members = f"/api/v0/orgs/{org.id}/members"
    for who, roles in (
        ("me", ["organization-admin"]),
        (mgr.id, ["organization-admin", "organization-manager"]),
        (dev.id, ["organization-admin"]),
        (boss.id, []),
        (boss.id, ["organization-admin", "organization-manager"]),
    ):
        answer = client.patch(f"{members}/{who}", json={"roles": roles}, headers=mgr_h)
        assert answer.status_code == 403, (who, roles, answer.json)
    assert client.delete(f"{members}/{boss.id}", headers=mgr_h).status_code == 403
    assert "organization-admin" in _org_roles(org, boss)
    assert "organization-admin" not in _org_roles(org, mgr)
    assert "organization-admin" not in _org_roles(org, dev)
    # what managers do manage still works
    promoted = client.patch(
        f"{members}/{dev.id}", json={"roles": ["organization-manager"]}, headers=mgr_h
    )
    assert promoted.status_code == 200
    # the organization's admin grants and removes it
    granted = client.patch(
        f"{members}/{dev.id}", json={"roles": ["organization-admin"]}, headers=boss_h
    )
    assert granted.status_code == 200
    assert "organization-admin" in granted.json["organization_roles"]
    revoked = client.patch(f"{members}/{dev.id}", json={"roles": []}, headers=boss_h)
    assert revoked.status_code == 200


def test_organization_admin_cannot_make_its_organization_the_default(client):
    """Issue 14 finding 7: choosing the deployment's default organization is site-level."""
    org, people = _org_with(boss=["organization-admin"])
    boss_h = people["boss"][1]
    answer = client.patch(f"/api/v0/orgs/{org.id}", json={"default": True}, headers=boss_h)
    assert answer.status_code == 403, answer.json
    with db.database.connection_context():
        assert Organization.get_by_id(org.id).is_default is False
    # the rest of the organization stays the admin's
    renamed = client.patch(f"/api/v0/orgs/{org.id}", json={"description": "x"}, headers=boss_h)
    assert renamed.status_code == 200
    manager = _v0(make_token(make_user("site-manager")))
    made = client.patch(f"/api/v0/orgs/{org.id}", json={"default": True}, headers=manager)
    assert made.status_code == 200 and made.json["default"] is True


def test_organization_admin_cannot_add_deployment_users(client):
    """Issue 14 finding 14: an organization admin added any user of the deployment to its
    organization. Adding members is for site admins and managers, who see every user."""
    org, people = _org_with(boss=["organization-admin"], mgr=["organization-manager"])
    stranger = make_user(username="stranger")
    for name in ("boss", "mgr"):
        answer = client.post(
            f"/api/v0/orgs/{org.id}/members",
            json={"user_id": stranger.id},
            headers=people[name][1],
        )
        assert answer.status_code == 403, (name, answer.json)
    members = client.get(f"/api/v0/orgs/{org.id}/members", headers=people["boss"][1]).json
    assert stranger.id not in {m["id"] for m in members}
    manager = _v0(make_token(make_user("site-manager")))
    added = client.post(
        f"/api/v0/orgs/{org.id}/members", json={"user_id": stranger.id}, headers=manager
    )
    assert added.status_code == 201
