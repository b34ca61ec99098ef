"""The audit contract: every mutating /api route, and the audit entry a successful call writes.

HOW TO ADD YOUR ROUTE (tests/test_audit_contract.py fails while a POST/PUT/PATCH/DELETE route
under /api is served without an entry here, or an entry names a route that is not served):

    CONTRACT = {
        # (method, Flask rule exactly as app.url_map spells it): what one successful call writes
        ("POST", "/api/v0/users"): Audited("create", "user", example=create_user),
        ("DELETE", "/api/v0/images/<string:image_id>"): Audited(
            "delete", "image", checked_by="tests/test_images.py::test_delete_is_audited"
        ),
        ("POST", "/api/v2/csp/reports"): NotAudited("a browser's report: logged, changes nothing"),
    }

- `Audited(action, resource_type, example=..., checked_by=...)`: a successful call writes
  EXACTLY ONE entry with this `action` and `resource_type` (values from app/services/audit.py
  ACTIONS and RESOURCE_TYPES; add new ones there). Give either
  * `example`: a function `(env: Env) -> Call` that prepares what the call needs (users, tokens,
    objects, through tests/factories.py or env.client) and returns the request to send. The
    contract test sends it and checks: a 2xx answer and exactly one new entry with this action
    and resource type (and `resource_id`, when the example sets `Call.resource_id`); then it
    prepares the example AGAIN, makes the database refuse the audit insert, sends it, and checks
    that nothing at all changed in the database (the change and its entry share one
    transaction). Examples run once per call: use `env.unique()` for names. Or
  * `checked_by`: where the owner's own test checks the same thing, when the example needs
    fixtures the contract test does not have (containers, a registry...).
- `NotAudited(reason)`: the route changes nothing an audit log is about; say why.

Keep entries grouped by area, one line (or one call) each; keep everyone's lines on rebase.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Call:
    """The request an example sends. Headers default to the site admin's token."""

    path: str
    json: object = None
    headers: dict | None = None
    resource_id: str | None = None  # when set, the entry's resource_id must equal it


@dataclass(frozen=True)
class Audited:
    action: str
    resource_type: str
    example: Callable | None = None
    checked_by: str = ""


@dataclass(frozen=True)
class NotAudited:
    reason: str


@dataclass
class Env:
    """What an example may use: the test client, a site admin and their token."""

    client: object
    admin: object
    admin_token: str
    _counter: itertools.count = field(default_factory=lambda: itertools.count(1))

    def unique(self, prefix: str = "c") -> str:
        return f"{prefix}{next(self._counter)}"


# --- examples ------------------------------------------------------------------------------


def _workspace(env: Env):
    from tests.devurls.conftest import make_workspace

    return make_workspace(env.admin, name=env.unique("ws"))


def _devurl(env: Env):
    from app import db
    from app.services import devurls
    from app.services.context import Caller

    workspace = _workspace(env)
    with db.database.connection_context():
        devurl = devurls.create(
            Caller(user=env.admin), workspace.id, port=3000, name=env.unique("d")
        )
    return workspace, devurl


def create_devurl(prefix: str):
    def example(env: Env) -> Call:
        workspace = _workspace(env)
        body = {"port": 8080, "name": env.unique("d"), "access": "PRIVATE"}
        return Call(f"/api/v0/{prefix}/{workspace.id}/devurls", json=body)

    return example


def update_devurl(prefix: str):
    def example(env: Env) -> Call:
        workspace, devurl = _devurl(env)
        path = f"/api/v0/{prefix}/{workspace.id}/devurls/{devurl.id}"
        return Call(path, json={"port": 3001, "access": "AUTHED"}, resource_id=devurl.id)

    return example


def delete_devurl(prefix: str):
    def example(env: Env) -> Call:
        workspace, devurl = _devurl(env)
        path = f"/api/v0/{prefix}/{workspace.id}/devurls/{devurl.id}"
        return Call(path, resource_id=devurl.id)

    return example


def _pool(env: Env):
    from app import db
    from app.models import ResourcePool

    with db.database.connection_context():
        return ResourcePool.create(name=env.unique("pool"), cluster_address="tcp://10.9.9.9:2376")


def pool_call(suffix: str = "", body=None):
    def example(env: Env) -> Call:
        pool = _pool(env)
        path = f"/api/private/resource-pools/{pool.id}{suffix}"
        return Call(path, json=body, resource_id=pool.id)

    return example


def rename_pool(env: Env) -> Call:
    pool = _pool(env)
    body = {"name": env.unique("renamed")}
    return Call(f"/api/private/resource-pools/{pool.id}", json=body, resource_id=pool.id)


def _image(env: Env):
    from app import db
    from app.models import Image, ImageTag, Registry
    from app.services import organizations

    with db.database.connection_context():
        organization = organizations.default_organization()
        registry = Registry.create(
            organization=organization, friendly_name=env.unique("r"), registry="127.0.0.1:5000"
        )
        image = Image.create(
            organization=organization, registry=registry, repository=env.unique("img")
        )
        ImageTag.create(image=image, tag="latest")
        ImageTag.create(image=image, tag="old")
    return image


def update_image(env: Env) -> Call:
    image = _image(env)
    body = {"description": env.unique("described ")}
    return Call(f"/api/v0/images/{image.id}", json=body, resource_id=image.id)


def delete_image(env: Env) -> Call:
    image = _image(env)
    return Call(f"/api/v0/images/{image.id}", resource_id=image.id)


def delete_tag(env: Env) -> Call:
    return Call(f"/api/v0/images/{_image(env).id}/tags/old")


def update_registry(env: Env) -> Call:
    registry_id = _image(env).registry_id
    body = {"friendly_name": env.unique("renamed")}
    return Call(f"/api/v0/registries/{registry_id}", json=body, resource_id=registry_id)


def delete_registry(env: Env) -> Call:
    from app import db
    from app.models import Image

    image = _image(env)
    with db.database.connection_context():
        Image.delete().where(Image.id == image.id).execute()
    return Call(f"/api/v0/registries/{image.registry_id}", resource_id=image.registry_id)


def create_workspace(prefix: str):
    def example(env: Env) -> Call:
        image = _image(env)
        body = {"name": env.unique("ws"), "image_id": image.id, "org_id": "default"}
        return Call(f"/api/v0/{prefix}", json=body)

    return example


def workspace_call(prefix: str, suffix: str = "", body=None):
    def example(env: Env) -> Call:
        workspace = _workspace(env)
        return Call(f"/api/v0/{prefix}/{workspace.id}{suffix}", json=body, resource_id=workspace.id)

    return example


def update_workspaces_config(prefix: str):
    def example(env: Env) -> Call:
        return Call(f"/api/v0/{prefix}/config", json={"max_cpu_cores": 64})

    return example


def _user(env: Env, password: str = ""):
    from tests.factories import make_user

    return make_user(username=env.unique("u"), password=password)


def _key_id(env: Env, user) -> str:
    from tests.factories import make_token

    return make_token(user, name=env.unique("k")).split("-", 1)[0]


def _organization(env: Env, *members):
    from app import db
    from app.models import Organization
    from app.services import organizations

    with db.database.connection_context():
        organization = Organization.create(name=env.unique("org"))
        for user in members:
            organizations.add_member(organization, user)
    return organization


def create_user(env: Env) -> Call:
    name = env.unique("u")
    body = {
        "email": f"{name}@example.com",
        "username": name,
        "name": "New User",
        "password": "a-long-Passw0rd!",
        "login_type": "built-in",
        "organizations": ["default"],
    }
    return Call("/api/v0/users", json=body)


def update_user(env: Env) -> Call:
    user = _user(env)
    return Call(f"/api/v0/users/{user.id}", json={"name": "Renamed"}, resource_id=user.id)


def delete_user(env: Env) -> Call:
    user = _user(env)
    return Call(f"/api/v0/users/{user.id}", resource_id=user.id)


def regenerate_ssh_key(env: Env) -> Call:
    user = _user(env)
    return Call(f"/api/v0/users/{user.id}/sshkey", resource_id=user.id)


def create_api_key_v0(env: Env) -> Call:
    return Call(f"/api/v0/api-keys/{env.admin.id}", json={"name": env.unique("k")})


def delete_api_key_v0(env: Env) -> Call:
    user = _user(env)
    key_id = _key_id(env, user)
    return Call(f"/api/v0/api-keys/{user.id}/{key_id}", resource_id=key_id)


def regenerate_api_key(env: Env) -> Call:
    user = _user(env)
    key_id = _key_id(env, user)
    return Call(f"/api/v0/api-keys/{user.id}/{key_id}/regen", resource_id=key_id)


def create_organization(env: Env) -> Call:
    return Call("/api/v0/orgs", json={"name": env.unique("org")})


def update_organization(env: Env) -> Call:
    organization = _organization(env)
    body = {"description": "edited"}
    return Call(f"/api/v0/orgs/{organization.id}", json=body, resource_id=organization.id)


def delete_organization(env: Env) -> Call:
    organization = _organization(env)
    return Call(f"/api/v0/orgs/{organization.id}", resource_id=organization.id)


def add_member(env: Env) -> Call:
    organization, user = _organization(env), _user(env)
    body = {"user_id": user.id, "roles": []}
    return Call(f"/api/v0/orgs/{organization.id}/members", json=body, resource_id=organization.id)


def change_member_roles(env: Env) -> Call:
    user = _user(env)
    organization = _organization(env, user)
    path = f"/api/v0/orgs/{organization.id}/members/{user.id}"
    return Call(path, json={"roles": ["organization-manager"]}, resource_id=organization.id)


def remove_member(env: Env) -> Call:
    user = _user(env)
    organization = _organization(env, user)
    path = f"/api/v0/orgs/{organization.id}/members/{user.id}"
    return Call(path, resource_id=organization.id)


def login(env: Env) -> Call:
    user = _user(env, password="a-long-Passw0rd!")
    body = {"email": user.email, "password": "a-long-Passw0rd!"}
    return Call("/api/v2/users/login", json=body, headers={})


def logout(env: Env) -> Call:
    from tests.factories import make_token

    token = make_token(_user(env))
    return Call("/api/v2/users/logout", headers={"Coder-Session-Token": token})


def create_session_key(env: Env) -> Call:
    return Call(f"/api/v2/users/{env.admin.id}/keys")


def create_token(env: Env) -> Call:
    return Call(f"/api/v2/users/{env.admin.id}/keys/tokens", json={"token_name": env.unique("t")})


def delete_key_v2(env: Env) -> Call:
    key_id = _key_id(env, env.admin)
    return Call(f"/api/v2/users/me/keys/{key_id}", resource_id=key_id)


# --- the table -----------------------------------------------------------------------------

WS_DEVURLS = "/api/v0/workspaces/<string:workspace_id>/devurls"
WS_DEVURL = WS_DEVURLS + "/<string:devurl_id>"
ENV_DEVURLS = "/api/v0/environments/<string:workspace_id>/devurls"
ENV_DEVURL = ENV_DEVURLS + "/<string:devurl_id>"
WS = "/api/v0/workspaces/<string:workspace_id>"
ENV = "/api/v0/environments/<string:workspace_id>"
POOLS = "/api/private/resource-pools"
POOL = POOLS + "/<string:pool_id>"

CONTRACT: dict[tuple[str, str], Audited | NotAudited] = {
    # users, API keys, organizations (v0)
    ("POST", "/api/v0/users"): Audited("create", "user", example=create_user),
    ("PATCH", "/api/v0/users/<string:user_id>"): Audited("write", "user", example=update_user),
    ("DELETE", "/api/v0/users/<string:user_id>"): Audited("delete", "user", example=delete_user),
    ("POST", "/api/v0/users/<string:user_id>/sshkey"): Audited(
        "write", "user", example=regenerate_ssh_key
    ),
    ("POST", "/api/v0/api-keys/<string:user_id>"): Audited(
        "create", "api_key", example=create_api_key_v0
    ),
    ("DELETE", "/api/v0/api-keys/<string:user_id>/<string:key_id>"): Audited(
        "delete", "api_key", example=delete_api_key_v0
    ),
    ("POST", "/api/v0/api-keys/<string:user_id>/<string:key_id>/regen"): Audited(
        "write", "api_key", example=regenerate_api_key
    ),
    ("POST", "/api/v0/orgs"): Audited("create", "organization", example=create_organization),
    ("PATCH", "/api/v0/orgs/<string:org_id>"): Audited(
        "write", "organization", example=update_organization
    ),
    ("DELETE", "/api/v0/orgs/<string:org_id>"): Audited(
        "delete", "organization", example=delete_organization
    ),
    ("POST", "/api/v0/orgs/<string:org_id>/members"): Audited(
        "write", "organization", example=add_member
    ),
    ("PATCH", "/api/v0/orgs/<string:org_id>/members/<string:user_id>"): Audited(
        "write", "organization", example=change_member_roles
    ),
    ("DELETE", "/api/v0/orgs/<string:org_id>/members/<string:user_id>"): Audited(
        "write", "organization", example=remove_member
    ),
    # users and tokens (v2)
    ("POST", "/api/v2/users/first"): Audited(
        "create", "user", checked_by="tests/test_users_v2.py (only on an empty deployment)"
    ),
    ("POST", "/api/v2/users/login"): Audited("login", "api_key", example=login),
    ("POST", "/api/v2/users/logout"): Audited("logout", "api_key", example=logout),
    ("POST", "/api/v2/users/<string:user>/keys"): Audited(
        "create", "api_key", example=create_session_key
    ),
    ("POST", "/api/v2/users/<string:user>/keys/tokens"): Audited(
        "create", "api_key", example=create_token
    ),
    ("DELETE", "/api/v2/users/<string:user>/keys/<string:keyid>"): Audited(
        "delete", "api_key", example=delete_key_v2
    ),
    # workspaces (and their /environments aliases)
    ("POST", "/api/v0/workspaces"): Audited(
        "create", "environment", example=create_workspace("workspaces")
    ),
    ("PATCH", WS): Audited("write", "environment", example=workspace_call("workspaces", body={})),
    ("DELETE", WS): Audited("delete", "environment", example=workspace_call("workspaces")),
    ("PUT", WS + "/stop"): Audited(
        "stop", "environment", example=workspace_call("workspaces", "/stop")
    ),
    ("PUT", "/api/v0/workspaces/config"): Audited(
        "write", "environment", example=update_workspaces_config("workspaces")
    ),
    ("POST", "/api/v0/environments"): Audited(
        "create", "environment", example=create_workspace("environments")
    ),
    ("PATCH", ENV): Audited(
        "write", "environment", example=workspace_call("environments", body={})
    ),
    ("DELETE", ENV): Audited("delete", "environment", example=workspace_call("environments")),
    ("PUT", ENV + "/stop"): Audited(
        "stop", "environment", example=workspace_call("environments", "/stop")
    ),
    ("PUT", "/api/v0/environments/config"): Audited(
        "write", "environment", example=update_workspaces_config("environments")
    ),
    # dev URLs (and their /environments aliases)
    ("POST", WS_DEVURLS): Audited("create", "devurl", example=create_devurl("workspaces")),
    ("PUT", WS_DEVURL): Audited("write", "devurl", example=update_devurl("workspaces")),
    ("DELETE", WS_DEVURL): Audited("delete", "devurl", example=delete_devurl("workspaces")),
    ("POST", ENV_DEVURLS): Audited("create", "devurl", example=create_devurl("environments")),
    ("PUT", ENV_DEVURL): Audited("write", "devurl", example=update_devurl("environments")),
    ("DELETE", ENV_DEVURL): Audited("delete", "devurl", example=delete_devurl("environments")),
    # images, tags and registries (import, tag add and refresh contact a registry: the images
    # tests check them against the local one)
    ("POST", "/api/v0/images/"): Audited(
        "create", "image", checked_by="tests/images/test_images_api.py (import)"
    ),
    ("PATCH", "/api/v0/images/<string:image_id>"): Audited("write", "image", example=update_image),
    ("POST", "/api/v0/images/<string:image_id>"): Audited(
        "write", "image_tag", checked_by="tests/images/test_images_api.py (refresh: per moved tag)"
    ),
    ("DELETE", "/api/v0/images/<string:image_id>"): Audited(
        "delete", "image", example=delete_image
    ),
    ("POST", "/api/v0/images/<string:image_id>/tags"): Audited(
        "create", "image_tag", checked_by="tests/images/test_images_api.py (tags add)"
    ),
    ("POST", "/api/v0/images/<string:image_id>/tags/update"): Audited(
        "write", "image_tag", checked_by="tests/images/test_images_api.py (refresh: per moved tag)"
    ),
    ("DELETE", "/api/v0/images/<string:image_id>/tags/<string:tag>"): Audited(
        "delete", "image_tag", example=delete_tag
    ),
    ("PATCH", "/api/v0/registries/<string:registry_id>"): Audited(
        "write", "registry", example=update_registry
    ),
    ("DELETE", "/api/v0/registries/<string:registry_id>"): Audited(
        "delete", "registry", example=delete_registry
    ),
    # resource pools (creating one contacts its engine: tests/workspaces/test_pool_admin.py)
    ("POST", POOLS): Audited(
        "create", "resource_pool", checked_by="tests/workspaces/test_pool_admin.py (create)"
    ),
    ("PATCH", POOL): Audited("write", "resource_pool", example=rename_pool),
    ("DELETE", POOL): Audited("delete", "resource_pool", example=pool_call()),
    ("POST", POOL + "/cordon"): Audited(
        "write", "resource_pool", example=pool_call("/cordon", {"reason": "maintenance"})
    ),
    ("POST", POOL + "/uncordon"): Audited("write", "resource_pool", example=pool_call("/uncordon")),
    # activity
    ("POST", "/api/private/metrics/usage/push"): NotAudited(
        "the classic CLI's activity ping: marks the workspace used (last_opened_at) and its "
        "user active for the usage metrics, as a dev URL visit does; no change to audit"
    ),
    # v2 general
    ("POST", "/api/v2/csp/reports"): NotAudited(
        "a browser's Content-Security-Policy report: logged and counted, changes nothing"
    ),
}


def mutating_routes(app) -> set[tuple[str, str]]:
    """(method, rule) of every POST/PUT/PATCH/DELETE route the app serves under /api."""
    return {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/")
        for method in rule.methods & MUTATING
    }
