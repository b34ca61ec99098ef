"""Property-based checks of both OpenAPI documents against the app (bounded examples).

No 5xx for anything generated from the documents, and every answer conforms to the documented
status codes, content types and schemas. Traffic stays on loopback: the fuzzed app may contact
registries on loopback addresses only (`CODER_REGISTRY_ALLOWED`), so a generated `new_registry`
host is refused before anyone looks its name up, and the `lookups` probe shows that no name
beyond loopback was looked up.
"""

import ipaddress

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app import registry as oci
from tests.factories import make_token, make_user

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
MAX_EXAMPLES = 15
FUZZ_OPTIONS = {"CODER_REGISTRY_ALLOWED": "127.0.0.1,[::1]"}


def _not_an_address(host: str) -> bool:
    try:
        ipaddress.ip_address(oci.split_host(host)[0].strip("[]"))
    except ValueError:
        return True
    return False


REGISTRY_NAMES = st.from_regex(oci.HOST_RE, fullmatch=True).filter(oci.valid_host)


@pytest.fixture
def app(make_app):
    return make_app(**FUZZ_OPTIONS)


def _admin_headers() -> dict:
    token = make_token(make_user("site-admin", username="fuzzadmin"))
    return {"Coder-Session-Token": token, "Session-Token": token}


@pytest.mark.parametrize("version", ["v0", "v2"])
def test_documents_hold(app, lookups, version):
    headers = _admin_headers()
    schema = schemathesis.openapi.from_wsgi(f"/api/{version}/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case):
            case.call_and_validate(headers=headers, checks=CHECKS)

        check()
    assert lookups.beyond_loopback == []


def _import_from(client, headers, host: str):
    return client.post(
        "/api/v0/images/",
        json={"repository": "team/app", "new_registry": {"registry": host}},
        headers=headers,
    )


def test_generated_registry_names_are_never_looked_up(app, lookups):
    client, headers = app.test_client(), _admin_headers()

    @given(host=REGISTRY_NAMES.filter(_not_an_address))
    @settings(
        max_examples=50,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(host):
        response = _import_from(client, headers, host)
        assert response.status_code == 400, response.json
        assert response.json["error"]["code"] == "registry_refused", response.json
        assert "CODER_REGISTRY_ALLOWED" in response.json["error"]["msg"]

    check()
    assert lookups.calls == []


def test_without_the_allow_list_the_probe_sees_the_lookup(make_app, lookups):
    """The control: the same import on an app without the option asks for the name (which the
    probe refuses, so nothing leaves the machine)."""
    app = make_app()
    response = _import_from(app.test_client(), _admin_headers(), "registry.example.com")
    assert response.json["error"]["code"] == "registry_unreachable"
    assert lookups.calls and set(lookups.calls) == {"registry.example.com"}
