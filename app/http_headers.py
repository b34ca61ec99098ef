"""Global response headers as Coder sets them: CORS (off unless allowed), HSTS, no framing."""

from __future__ import annotations

from flask import request

from app import options

CORS_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
HSTS_OPTIONS = {"includesubdomains": "includeSubDomains", "preload": "preload"}
NO_FRAMING = "frame-ancestors 'none'"


def hsts_header(max_age: int, extra) -> str:
    """The Strict-Transport-Security value ("" when off); OptionError on an unknown option."""
    if max_age <= 0:
        return ""
    value = f"max-age={max_age}"
    for option in extra or ():
        name = HSTS_OPTIONS.get(option.strip().lower())
        if name is None:
            raise options.OptionError(
                f'CODER_STRICT_TRANSPORT_SECURITY_OPTIONS: invalid option "{option}" '
                "(use preload and/or includeSubDomains)"
            )
        value += f"; {name}"
    return value


def first_values(headers) -> dict[str, str]:
    """Each header's first value by lower-cased name, in one pass over a response's headers
    (werkzeug's `get`/`setdefault` scan them once per call, raising inside for every miss)."""
    present = {}
    for name, value in headers:
        present.setdefault(name.lower(), value)
    return present


def put(headers, values) -> None:
    """Set each (name, value), replacing any value it had, as `headers[name] = value` does."""
    present = first_values(headers)
    for name, value in values:
        if name.lower() in present:
            headers[name] = value
        else:
            headers.add(name, value)


def init_app(app) -> None:
    settings = app.config["SETTINGS"]
    hsts = hsts_header(
        settings["strict_transport_security"], settings["strict_transport_security_options"]
    )
    allow_cors = settings["dangerous.allow_all_cors"]

    @app.after_request
    def _no_framing(response):
        # No page of pycoderd's (the Swagger UI's "Authorize" and "Try it out") may be framed by
        # another site, against clickjacking; JSON answers lose nothing by it. Dev URLs are
        # proxied before Flask: a workspace app's own headers stay its own.
        headers = response.headers
        present = first_values(headers)
        if "x-frame-options" not in present:
            headers.add("X-Frame-Options", "DENY")
        policy = present.get("content-security-policy")
        if policy is None:
            headers.add("Content-Security-Policy", NO_FRAMING)
        elif not policy:
            headers["Content-Security-Policy"] = NO_FRAMING
        elif "frame-ancestors" not in policy:
            headers["Content-Security-Policy"] = f"{policy}; {NO_FRAMING}"
        return response

    if hsts:

        @app.after_request
        def _hsts(response):
            response.headers["Strict-Transport-Security"] = hsts
            return response

    if allow_cors:

        @app.after_request
        def _cors(response):
            # Coder (go-chi/cors, AllowedOrigins "*", no credentials): any origin, any header.
            if "Origin" not in request.headers:
                return response
            response.headers["Access-Control-Allow-Origin"] = "*"
            response.vary.add("Origin")
            wanted = request.headers.get("Access-Control-Request-Method", "").upper()
            if request.method == "OPTIONS" and wanted:
                response.vary.update(
                    ("Access-Control-Request-Method", "Access-Control-Request-Headers")
                )
                if wanted in CORS_METHODS:
                    response.headers["Access-Control-Allow-Methods"] = wanted
                headers = request.headers.get("Access-Control-Request-Headers", "")
                if headers:
                    response.headers["Access-Control-Allow-Headers"] = headers
            return response
