"""Fixtures for the images tests: an app that may reach the loopback registries, and people."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from app import db
from app.models import Organization
from app.services import organizations
from tests.factories import auth_headers, make_token, make_user


@pytest.fixture
def app(make_app, registry, auth_registry, token_registry):
    hosts = (registry.host, auth_registry.host, token_registry.host, token_registry.issuer.host)
    return make_app(CODER_REGISTRY_INSECURE=",".join(hosts))


@dataclass
class Person:
    user: object
    headers: dict


@dataclass
class People:
    org_id: str
    admin: Person  # site-admin
    org_manager: Person  # organization-manager of `org`
    member: Person  # organization-member of `org`
    outsider: Person  # only in the default organization
    org_admin: Person  # organization-admin of `org`
    site_manager: Person  # site-manager, in no organization but the default


def _person(*roles, org=None, org_roles=()) -> Person:
    user = make_user(*roles)
    if org is not None:
        with db.database.connection_context():
            organizations.add_member(org, user, org_roles)
    return Person(user, auth_headers(make_token(user), "v0"))


@pytest.fixture
def people(app) -> People:
    with db.database.connection_context():
        org = Organization.create(name="acme")
    return People(
        org_id=org.id,
        admin=_person("site-admin"),
        org_manager=_person(org=org, org_roles=("organization-manager",)),
        member=_person(org=org),
        outsider=_person(),
        org_admin=_person(org=org, org_roles=("organization-admin",)),
        site_manager=_person("site-manager"),
    )
