"""The proxy's own answers (errors in the v0 envelope), written straight to WSGI."""

from __future__ import annotations

import http.client
import json

from app import errors


def error(failure: errors.APIError, start_response):
    body = json.dumps(errors.body_v0(failure)).encode()
    headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
        ("X-Content-Type-Options", "nosniff"),
        ("Cache-Control", "no-store"),
    ]
    headers += [(name, value) for name, value in failure.headers.items() if value]
    start_response(f"{failure.status} {http.client.responses.get(failure.status, '')}", headers)
    return [body]
