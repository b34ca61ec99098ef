"""Real answers of the v2 general routes validate against the published OpenAPI document."""

import jsonschema_rs
import pytest

from tests.factories import auth_headers, make_token, make_user


def _resolve(node, document):
    """Inline every $ref of the document (its schemas are not recursive)."""
    if isinstance(node, dict):
        if "$ref" in node:
            target = document
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[part]
            return _resolve(target, document)
        return {key: _resolve(value, document) for key, value in node.items()}
    if isinstance(node, list):
        return [_resolve(item, document) for item in node]
    return node


def _check(client, response, method, path, version="v2"):
    document = client.get(f"/api/{version}/openapi.json").json
    operation = document["paths"][path][method]
    documented = _resolve(operation["responses"][str(response.status_code)], document)
    schema = documented["content"]["application/json"]["schema"]
    jsonschema_rs.Draft4Validator(schema).validate(response.json)


@pytest.fixture
def loaded_app(make_app, monkeypatch):
    monkeypatch.setenv("CODER_OIDC_CLIENT_SECRET", "hidden-value")
    monkeypatch.setenv("CODER_EXPERIMENTS", "a,B")
    return make_app(
        IGNORE_ENV=False,
        CODER_SSH_CONFIG_OPTIONS="ForwardAgent yes",
        CODER_DANGEROUS_DISABLE_RATE_LIMITS=False,
        CODER_API_RATE_LIMIT=100,
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v2/buildinfo"),
        ("get", "/api/v2/updatecheck"),
        ("get", "/api/v2/experiments"),
        ("get", "/api/v2/deployment/config"),
        ("get", "/api/v2/deployment/ssh"),
        ("get", "/api/v2/deployment/stats"),
    ],
)
def test_answers_match_the_document(loaded_app, method, path):
    client = loaded_app.test_client()
    token = make_token(make_user("site-admin"))
    response = client.open(path, method=method.upper(), headers=auth_headers(token))
    assert response.status_code == 200
    _check(client, response, method, path)
    member = client.open(path, method=method.upper(), headers=auth_headers(make_token(make_user())))
    _check(client, member, method, path)


def test_csp_answers_match_the_document(client):
    path = "/api/v2/csp/reports"
    ok = client.post(path, json={"csp-report": {"blocked-uri": "inline"}})
    assert ok.status_code == 200
    _check(client, ok, "post", path)
    bad = client.post(path, json={})
    assert bad.status_code == 400
    _check(client, bad, "post", path)


@pytest.mark.parametrize(("version", "path"), [("v2", "/api/v2/buildinfo"), ("v0", "/api/")])
def test_rate_limited_answers_match_the_document(make_app, version, path):
    client = make_app(
        CODER_DANGEROUS_DISABLE_RATE_LIMITS=False, CODER_API_RATE_LIMIT=1
    ).test_client()
    client.get(path)
    response = client.get(path)
    assert response.status_code == 429
    _check(client, response, "get", path, version)
