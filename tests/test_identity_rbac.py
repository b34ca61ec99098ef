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
