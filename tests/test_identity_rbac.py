"""Every identity route under every role: allowed, 403 for actions, 404 for invisible objects."""

import itertools
import json

import pytest

from app import db
from app.models import Organization
from app.services import organizations
from tests.factories import make_token, make_user

ROLES = ("anonymous", "member", "auditor", "manager", "admin")
SITE_ROLE = {
    "member": (),
    "auditor": ("site-auditor",),
    "manager": ("site-manager",),
    "admin": ("site-admin",),
}
_unique = itertools.count(1)


def _expect(anonymous, member, auditor, manager, admin):
    return dict(zip(ROLES, (anonymous, member, auditor, manager, admin), strict=True))


ALL_OK = _expect(401, 200, 200, 200, 200)
SITE_STAFF = _expect(401, 404, 404, 200, 200)  # others' objects: site admins and managers
KEYS_OF_OTHERS = _expect(401, 404, 404, 403, 200)  # visible to managers, theirs to admins

# (method, path, body, expected statuses). Placeholders are filled per request; `fresh_*` ones
# make a new object, so every role acts on an object of its own.
MATRIX = [
    # v0 users
    ("get", "/api/v0/users", None, ALL_OK),
    ("post", "/api/v0/users", "new_user", _expect(401, 403, 403, 201, 201)),
    ("get", "/api/v0/users/{target}", None, SITE_STAFF),
    ("get", "/api/v0/users/me", None, ALL_OK),
    ("patch", "/api/v0/users/{target}", {"name": "Renamed"}, SITE_STAFF),
    ("patch", "/api/v0/users/me", {"name": "Me"}, ALL_OK),
    ("delete", "/api/v0/users/{fresh_user}", None, _expect(401, 404, 404, 204, 204)),
    ("get", "/api/v0/users/{target}/sshkey", None, SITE_STAFF),
    ("get", "/api/v0/users/me/sshkey", None, ALL_OK),
    ("post", "/api/v0/users/{target}/sshkey", None, SITE_STAFF),
    # v0 api keys
    ("post", "/api/v0/api-keys/{target}", "key_name", _expect(401, 404, 404, 201, 201)),
    ("post", "/api/v0/api-keys/me", "key_name", _expect(401, 201, 201, 201, 201)),
    ("get", "/api/v0/api-keys/{target}", None, KEYS_OF_OTHERS),
    ("get", "/api/v0/api-keys/me", None, ALL_OK),
    ("get", "/api/v0/api-keys/{target}/{target_key}", None, KEYS_OF_OTHERS),
    ("delete", "/api/v0/api-keys/{target}/{fresh_key}", None, _expect(401, 404, 404, 403, 204)),
    ("post", "/api/v0/api-keys/{target}/{fresh_key}/regen", None, KEYS_OF_OTHERS),
    # v0 organizations
    ("get", "/api/v0/orgs", None, ALL_OK),
    ("post", "/api/v0/orgs", "org_name", _expect(401, 403, 403, 201, 201)),
    ("get", "/api/v0/orgs/{other_org}", None, SITE_STAFF),
    ("get", "/api/v0/orgs/default", None, ALL_OK),
    ("patch", "/api/v0/orgs/{other_org}", {"description": "d"}, SITE_STAFF),
    ("patch", "/api/v0/orgs/default", {"description": "d"}, _expect(401, 403, 403, 200, 200)),
    ("delete", "/api/v0/orgs/{fresh_org}", None, _expect(401, 404, 404, 204, 204)),
    ("get", "/api/v0/orgs/{other_org}/members", None, SITE_STAFF),
    ("post", "/api/v0/orgs/{other_org}/members", "fresh_member", _expect(401, 404, 404, 201, 201)),
    ("post", "/api/v0/orgs/default/members", "fresh_outsider", _expect(401, 403, 403, 201, 201)),
    ("patch", "/api/v0/orgs/{other_org}/members/{target}", {"roles": []}, SITE_STAFF),
    (
        "delete",
        "/api/v0/orgs/{other_org}/members/{fresh_in_other}",
        None,
        _expect(401, 404, 404, 204, 204),
    ),
    # v2 users
    ("get", "/api/v2/users/first", None, _expect(200, 200, 200, 200, 200)),
    ("get", "/api/v2/users/authmethods", None, _expect(200, 200, 200, 200, 200)),
    ("get", "/api/v2/users/roles", None, ALL_OK),
    ("post", "/api/v2/users/first", "first_user", _expect(409, 409, 409, 409, 409)),
    ("post", "/api/v2/users/login", "bad_login", _expect(401, 401, 401, 401, 401)),
    ("post", "/api/v2/users/logout", None, ALL_OK),
    ("get", "/api/v2/users/{target}", None, SITE_STAFF),
    ("get", "/api/v2/users/me", None, ALL_OK),
    # v2 keys and tokens
    ("post", "/api/v2/users/{target}/keys", None, _expect(401, 404, 404, 201, 201)),
    ("post", "/api/v2/users/me/keys", None, _expect(401, 201, 201, 201, 201)),
    ("get", "/api/v2/users/{target}/keys/tokens", None, KEYS_OF_OTHERS),
    ("get", "/api/v2/users/me/keys/tokens", None, ALL_OK),
    ("post", "/api/v2/users/{target}/keys/tokens", "token_name", _expect(401, 404, 404, 403, 201)),
    ("post", "/api/v2/users/me/keys/tokens", "token_name", _expect(401, 201, 201, 201, 201)),
    ("get", "/api/v2/users/{target}/keys/tokens/target-token", None, KEYS_OF_OTHERS),
    ("get", "/api/v2/users/{target}/keys/tokens/tokenconfig", None, ALL_OK),
    ("get", "/api/v2/users/{target}/keys/{target_key}", None, KEYS_OF_OTHERS),
    ("delete", "/api/v2/users/{target}/keys/{fresh_key}", None, _expect(401, 404, 404, 403, 204)),
]

IDENTITY_BLUEPRINTS = ("v0_users", "v0_api_keys", "v0_organizations", "v2_users", "v2_tokens")


class World:
    """The objects the matrix acts on; `fresh_*` placeholders make a new one each time."""

    def __init__(self):
        self.target = make_user(username="target")
        self.target_key = make_token(self.target, name="target-token").split("-")[0]
        with db.database.connection_context():
            org = Organization.create(name="other")
            organizations.add_member(org, self.target)
        self.other_org = org.id

    def __getitem__(self, name):
        n = next(_unique)
        if name == "fresh_user":
            return make_user().id
        if name == "fresh_key":
            return make_token(self.target).split("-")[0]
        if name == "fresh_org":
            with db.database.connection_context():
                return Organization.create(name=f"fresh{n}").id
        if name == "fresh_in_other":
            user = make_user()
            with db.database.connection_context():
                organizations.add_member(Organization.get_by_id(self.other_org), user)
            return user.id
        return getattr(self, name)

    def body(self, kind):
        n = next(_unique)
        bodies = {
            "new_user": lambda: {
                "email": f"new{n}@example.com",
                "username": f"new{n}",
                "password": "temporary",
                "temporary_password": True,
            },
            "key_name": lambda: {"name": f"key{n}"},
            "token_name": lambda: {"token_name": f"token{n}"},
            "org_name": lambda: {"name": f"org{n}"},
            "fresh_member": lambda: {"user_id": make_user().id},
            "fresh_outsider": lambda: {"user_id": _outsider().id},
            "first_user": lambda: {
                "email": f"first{n}@example.com",
                "username": f"first{n}",
                "password": "Correct-Horse-Battery-9",
            },
            "bad_login": lambda: {"email": "target@example.com", "password": "wrong"},
        }
        return bodies[kind]() if isinstance(kind, str) else kind


def _outsider():
    """A user in no organization at all."""
    return make_user(organization_ids=())


class _Keys(dict):
    def __init__(self, world):
        super().__init__()
        self.world = world

    def __missing__(self, name):
        return self.world[name]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("method", "path", "body", "expected"),
    MATRIX,
    ids=[f"{m.upper()} {p}" for m, p, _, _ in MATRIX],
)
def test_matrix(client, role, method, path, body, expected):
    world = World()
    headers = {}
    if role != "anonymous":
        caller = make_user(*SITE_ROLE[role], username=f"caller-{role}")
        headers = {"Coder-Session-Token": make_token(caller)}
    url = path.format_map(_Keys(world))
    data = json.dumps(world.body(body)) if body is not None else None
    response = getattr(client, method)(url, data=data, headers=headers)
    assert response.status_code == expected[role], (role, method, url, response.get_json())


def test_matrix_covers_every_identity_route(app):
    served = {
        (rule.endpoint, method.lower())
        for rule in app.url_map.iter_rules()
        if rule.endpoint.split(".")[0] in IDENTITY_BLUEPRINTS
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    adapter = app.url_map.bind("localhost")
    covered = {
        (adapter.match(path.replace("{", "x").replace("}", ""), method.upper())[0], method)
        for method, path, _, _ in MATRIX
    }
    assert served - covered == set()


# Finding 1 of issue 14: every route acting on another user's credentials or account checks
# rbac.require_acts_for: the action's roles, and every permission the target holds. A site
# manager once minted a key for a site admin and became one.
# (method, path, body, status when allowed, manager → member/auditor/manager: SPEC's table)
ACTS_ON_USER = [
    ("patch", "/api/v0/users/{target}", {"name": "Renamed"}, 200, 200),
    ("patch", "/api/v0/users/{target}", "rename", 200, 200),
    ("patch", "/api/v0/users/{target}", "new_email", 200, 200),
    ("patch", "/api/v0/users/{target}", {"status": "suspended"}, 200, 200),
    ("patch", "/api/v0/users/{target}", "password_reset", 200, 200),
    ("patch", "/api/v0/users/{target}", {"roles": ["site-auditor"]}, 200, 403),
    ("delete", "/api/v0/users/{target}", None, 204, 204),
    ("post", "/api/v0/users/{target}/sshkey", None, 200, 200),
    ("post", "/api/v0/api-keys/{target}", "key_name", 201, 201),
    ("get", "/api/v0/api-keys/{target}", None, 200, 403),
    ("get", "/api/v0/api-keys/{target}/{target_key}", None, 200, 403),
    ("delete", "/api/v0/api-keys/{target}/{target_key}", None, 204, 403),
    ("post", "/api/v0/api-keys/{target}/{target_key}/regen", None, 200, 403),
    ("post", "/api/v2/users/{target}/keys", None, 201, 201),
    ("get", "/api/v2/users/{target}/keys/tokens", None, 200, 403),
    ("post", "/api/v2/users/{target}/keys/tokens", "token_name", 201, 403),
    ("get", "/api/v2/users/{target}/keys/tokens/target-token", None, 200, 403),
    ("get", "/api/v2/users/{target}/keys/{target_key}", None, 200, 403),
    ("delete", "/api/v2/users/{target}/keys/{target_key}", None, 204, 403),
]

# Routes naming a user that do not act on that user's credentials or account.
NOT_ACTING_ON_USER = {
    ("v0_users.UserById", "get"): "reads the profile (404 unless visible)",
    ("v0_users.UserSSHKey", "get"): "the public key; the private one only to its owner",
    ("v2_users.UserByName", "get"): "reads the profile (404 unless visible)",
    ("v2_tokens.TokenConfig", "get"): "the deployment's token lifetime, for anyone",
    ("v0_organizations.MemberById", "patch"): "organization roles: organization rules",
    ("v0_organizations.MemberById", "delete"): "organization membership: organization rules",
}
TARGET_ROLES = ("member", "auditor", "manager", "admin")


def _target_state(user_id):
    """What an attack could change: the user row, their keys (with secrets), their SSH key."""
    from app.models import APIKey, User

    with db.database.connection_context():
        user = User.get_or_none(User.id == user_id)
        keys = sorted(
            (k.id, k.hashed_secret, k.expires_at)
            for k in APIKey.select().where(APIKey.user == user_id)
        )
        return (user.__data__ if user else None), keys


def _acting_body(world, kind):
    n = next(_unique)
    if kind == "rename":
        return {"username": f"renamed{n}"}
    if kind == "new_email":
        return {"email": f"renamed{n}@example.com"}
    if kind == "password_reset":
        return {"password": "Temporary-1", "temporary_password": True}
    return world.body(kind)


@pytest.mark.parametrize("target_role", TARGET_ROLES)
@pytest.mark.parametrize("actor_role", ("manager", "admin"))
@pytest.mark.parametrize(
    ("method", "path", "body", "allowed", "manager_on_lower"),
    ACTS_ON_USER,
    ids=[
        f"{m.upper()} {p} {b if isinstance(b, str) else b and list(b)}"
        for m, p, b, *_ in ACTS_ON_USER
    ],
)
def test_acting_on_another_user(
    client, actor_role, target_role, method, path, body, allowed, manager_on_lower
):
    """Admins act on anyone; managers on members, auditors and managers as SPEC's table lets
    them; never on a site admin: 403 and nothing changes (no key, no rename, no reset)."""
    world = World()
    with db.database.connection_context():
        world.target.roles = SITE_ROLE[target_role]
        world.target.save()
    actor = make_user(*SITE_ROLE[actor_role], username=f"actor-{actor_role}")
    headers = {"Coder-Session-Token": make_token(actor)}
    url = path.format_map(_Keys(world))
    data = _acting_body(world, body)
    before = _target_state(world.target.id)
    response = getattr(client, method)(
        url, data=json.dumps(data) if data is not None else None, headers=headers
    )
    if actor_role == "admin":
        expected = allowed
    elif target_role == "admin":
        expected = 403
    else:
        expected = manager_on_lower
    answer = response.get_json(silent=True)
    assert response.status_code == expected, (actor_role, target_role, answer)
    minted = answer.get("key") if isinstance(answer, dict) else None
    if expected == 403:
        assert minted is None
        assert _target_state(world.target.id) == before
    elif minted:
        # The minted key acts as the target: which is why minting needs the target's rights.
        me = client.get("/api/v2/users/me", headers={"Coder-Session-Token": minted})
        assert me.json["id"] == world.target.id


def test_manager_cannot_become_site_admin(client):
    """The attack as reported: a site manager mints keys for a site admin and uses them."""
    admin = make_user("site-admin", username="the-admin")
    manager = make_user("site-manager", username="the-manager")
    headers = {"Session-Token": make_token(manager)}
    for path, body in (
        (f"/api/v0/api-keys/{admin.id}", {"name": "mine-now"}),
        (f"/api/v2/users/{admin.id}/keys", None),
        (f"/api/v2/users/{admin.username}/keys/tokens", {"token_name": "mine-now"}),
    ):
        response = client.post(path, json=body, headers=headers)
        assert response.status_code == 403, (path, response.get_json())
        assert "key" not in response.get_json()
    config = client.get("/api/v2/deployment/config", headers=headers)
    assert config.status_code == 403


def test_every_route_naming_a_user_is_classified(app):
    """A new route taking a user must join ACTS_ON_USER (or say why it does not act on one)."""
    naming_user = {
        (rule.endpoint, method.lower())
        for rule in app.url_map.iter_rules()
        if {"user", "user_id"} & set(rule.arguments)
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    adapter = app.url_map.bind("localhost")
    acting = {
        (adapter.match(path.replace("{", "x").replace("}", ""), method.upper())[0], method)
        for method, path, *_ in ACTS_ON_USER
    }
    assert naming_user - acting - set(NOT_ACTING_ON_USER) == set()
    assert acting & set(NOT_ACTING_ON_USER) == set()
