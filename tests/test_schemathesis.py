"""Property-based checks of both OpenAPI documents against the app (bounded examples).

No 5xx for anything generated from the documents, and every answer conforms to the documented
status codes, content types and schemas.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.factories import make_token, make_user

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
MAX_EXAMPLES = 15


@pytest.mark.parametrize("version", ["v0", "v2"])
def test_documents_hold(app, version):
    token = make_token(make_user("site-admin", username="fuzzadmin"))
    headers = {"Coder-Session-Token": token, "Session-Token": token}
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
