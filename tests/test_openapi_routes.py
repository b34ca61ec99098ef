"""Every route under /api is documented in one of the two OpenAPI documents, and vice versa;
and every schema in them is one class under one name."""

import re
import warnings

# Routes outside the two documents by design: infrastructure and the documents themselves.
UNDOCUMENTED = {
    "/healthz",
    "/swagger/",
    "/internal-auth",  # an HTML page for people (`coder login`), not an API operation
    "/swagger/assets/initializer.js",
    "/swagger/assets/<path:name>",
    "/static/<path:filename>",
    "/api/v0/openapi.json",
    "/api/v2/openapi.json",
}


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule)


def test_served_and_documented_routes_match(app, client):
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.rule in UNDOCUMENTED:
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            served.add((method.lower(), _openapi_path(rule.rule)))
    documented = set()
    for version in ("v0", "v2"):
        for path, operations in client.get(f"/api/{version}/openapi.json").json["paths"].items():
            for method in operations:
                if method != "parameters":
                    documented.add((method, path))
    assert served - documented == set(), "served but not documented"
    assert documented - served == set(), "documented but not served"


def test_each_schema_has_one_name(make_app):
    """apispec renames a second schema class that resolves to a taken name (`Workspace1`) and
    warns "Multiple schemas resolved to the name …": two classes for one wire shape."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = make_app().test_client()
        documents = [client.get(f"/api/{version}/openapi.json").json for version in ("v0", "v2")]
    assert [str(w.message) for w in caught if "Multiple schemas" in str(w.message)] == []
    for document in documents:
        names = document["components"]["schemas"]
        renamed = [
            n for n in names if re.fullmatch(r"(.+?)\d+", n) and n.rstrip("0123456789") in names
        ]
        assert renamed == []
