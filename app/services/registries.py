"""Registry rules: who sees and manages them, credentials encrypted at rest, contacting them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from app import crypto, errors, rbac
from app import registry as oci
from app.db import database
from app.models import Image, OrganizationMember, Registry
from app.services import audit, organizations
from app.services.context import Caller

EDITABLE = ("friendly_name", "registry", "username")


@dataclass(frozen=True)
class Access:
    """What contacting registries needs: the at-rest key, the hosts allowed plain HTTP, and the
    only hosts that may be contacted at all (empty: any)."""

    secret_key: str
    insecure: frozenset[str] = frozenset()
    allowed: frozenset[str] = frozenset()


def access(config: Mapping) -> Access:
    """Access from an app's config (`SECRET_KEY`, `SETTINGS`)."""
    settings = config["SETTINGS"]
    return Access(
        secret_key=config["SECRET_KEY"],
        insecure=oci.normalize_hosts(settings["pycoderd.registry_insecure"] or []),
        allowed=oci.normalize_hosts(settings["pycoderd.registry_allowed"] or []),
    )


class RegistryProblem(errors.BadRequest):
    """400 saying which registry failure happened (unreachable, credentials, not found…)."""


def problem(exc: oci.RegistryError) -> RegistryProblem:
    error = RegistryProblem(str(exc))
    error.code = exc.code
    return error


def client(access_: Access, host: str, username: str = "", password: str = "") -> oci.Client:
    try:
        return oci.Client(
            host,
            username=username,
            password=password,
            insecure=access_.insecure,
            allowed=access_.allowed,
        )
    except oci.RegistryError as exc:
        raise problem(exc) from None


def client_for(access_: Access, reg: Registry) -> oci.Client:
    return client(access_, reg.registry, reg.username, password_of(access_, reg))


def password_of(access_: Access, reg: Registry) -> str:
    if not reg.password_encrypted:
        return ""
    try:
        return crypto.decrypt(access_.secret_key, reg.password_encrypted)
    except ValueError:
        raise errors.BadRequest(
            f'The password of registry "{reg.friendly_name}" cannot be decrypted '
            "(was the secret key changed?); set it again."
        ) from None


def check_host(host: str, field: str = "registry") -> str:
    host = (host or "").strip().lower()
    if not oci.valid_host(host):
        raise errors.ValidationFailed(
            validations=[(field, "must be a registry host[:port], e.g. registry.example.com")]
        )
    return host


def visible_org_ids(user, action: str) -> set[str] | None:
    """Organizations where the user may take `action`; None means every organization."""
    if any(role in rbac.SITE_OVERRIDES_ORG for role in user.roles):
        return None
    allowed = rbac.ORG_ACTIONS[action]
    return {
        member.organization_id
        for member in OrganizationMember.select().where(OrganizationMember.user == user.id)
        if set(member.roles) & allowed
    }


def organization_for(user, org_id: str, action: str):
    """The organization, or 404 unless the user may take `action` in it (`read` actions)."""
    organization = organizations.get(org_id)
    if not rbac.can_in_organization(user, organization.id, action):
        raise errors.NotFound()
    return organization


def list_visible(user, org_id: str | None = None) -> list[Registry]:
    query = Registry.select().order_by(Registry.created_at, Registry.id)
    if org_id:
        query = query.where(
            Registry.organization == organization_for(user, org_id, "registries:read").id
        )
    visible = visible_org_ids(user, "registries:read")
    if visible is not None:
        query = query.where(Registry.organization.in_(list(visible)))
    return list(query)


def get_visible(user, registry_id: str) -> Registry:
    reg = Registry.get_or_none(Registry.id == registry_id)
    if reg is None or not rbac.can_in_organization(user, reg.organization_id, "registries:read"):
        raise errors.NotFound()
    return reg


def state(reg: Registry) -> dict:
    return {
        "friendly_name": reg.friendly_name,
        "registry": reg.registry,
        "username": reg.username,
        "password": reg.password_encrypted,
    }


def create(caller: Caller, access_: Access, organization, fields: dict) -> Registry:
    """A new registry row and its audit entry; call inside the importing transaction."""
    password = fields.get("password") or ""
    reg = Registry.create(
        organization=organization,
        friendly_name=fields.get("friendly_name") or fields["registry"],
        registry=fields["registry"],
        username=fields.get("username") or "",
        password_encrypted=crypto.encrypt(access_.secret_key, password) if password else "",
    )
    audit.record(
        caller,
        action="create",
        resource_type="registry",
        resource_id=reg.id,
        resource_target=reg.friendly_name,
        organization_id=organization.id,
        changes=audit.diff({}, state(reg)),
        status_code=201,
    )
    return reg


def update(caller: Caller, access_: Access, registry_id: str, fields: dict) -> Registry:
    """Change name, host or credentials; a changed host or credentials are checked first."""
    reg = get_visible(caller.user, registry_id)
    rbac.require_in_organization(caller.user, reg.organization_id, "registries:manage")
    changes = {k: v for k, v in fields.items() if v is not None}
    if "registry" in changes:
        changes["registry"] = check_host(changes["registry"])
    if not changes:
        return reg
    if {"registry", "username", "password"} & set(changes):
        password = changes.get("password")
        if password is None:
            password = password_of(access_, reg)
        with client(
            access_,
            changes.get("registry", reg.registry),
            changes.get("username", reg.username),
            password,
        ) as registry_client:
            try:
                registry_client.ping()
            except oci.RegistryError as exc:
                raise problem(exc) from None
    values = {name: changes[name] for name in EDITABLE if name in changes}
    if "password" in changes:
        values["password_encrypted"] = (
            crypto.encrypt(access_.secret_key, changes["password"]) if changes["password"] else ""
        )
    with database.atomic():
        audit.write(
            caller,
            reg,
            values,
            state=state,
            resource_type="registry",
            target_field="friendly_name",
            record_unchanged=True,  # an edit always saves and says so, even to the same values
        )
    return reg


def delete(caller: Caller, registry_id: str) -> None:
    """Delete a registry no image uses (409 otherwise)."""
    reg = get_visible(caller.user, registry_id)
    rbac.require_in_organization(caller.user, reg.organization_id, "registries:manage")
    with database.atomic():
        in_use = Image.select().where(Image.registry == reg.id).count()
        if in_use:
            raise errors.Conflict(
                f'Registry "{reg.friendly_name}" is used by {in_use} image(s); '
                "delete those images first."
            )
        audit.record(
            caller,
            action="delete",
            resource_type="registry",
            resource_id=reg.id,
            resource_target=reg.friendly_name,
            organization_id=reg.organization_id,
            changes=audit.diff(state(reg), {}),
        )
        reg.delete_instance()
