"""Every route under /api is documented in one of the two OpenAPI documents, and vice versa."""

import re

# Routes outside the two documents by design: infrastructure and the documents themselves.
UNDOCUMENTED = {
    "/healthz",
    "/swagger/",
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
