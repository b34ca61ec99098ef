"""Swagger UI is served, with every asset it references coming from pycoderd itself."""

import re

import pytest


def test_swagger_page_assets_are_local(client):
    page = client.get("/swagger")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    references = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert references, "the page references no assets"
    for ref in references:
        assert ref.startswith("/"), f"{ref} is not served by pycoderd"
        asset = client.get(ref)
        assert asset.status_code == 200, ref
        assert len(asset.data) > 0
    initializer = client.get("/swagger/assets/initializer.js").get_data(as_text=True)
    assert "/api/v0/openapi.json" in initializer and "/api/v2/openapi.json" in initializer
    assert not re.search(r"https?://", initializer)


@pytest.mark.parametrize("version", ["v0", "v2"])
def test_openapi_documents(client, version):
    response = client.get(f"/api/{version}/openapi.json")
    assert response.status_code == 200
    document = response.json
    assert document["openapi"].startswith("3.")
    assert document["paths"]


def test_swagger_can_be_disabled(make_app):
    client = make_app(CODER_SWAGGER_ENABLE="false").test_client()
    assert client.get("/swagger").status_code == 404


def test_unknown_asset(client):
    assert client.get("/swagger/assets/../../etc/passwd").status_code == 404
    assert client.get("/swagger/assets/nope.js").status_code == 404
