"""pycoderd: a server for the Coder remote-development API. `create_app` builds every app."""

from __future__ import annotations

import inspect
import os
import secrets
from pathlib import Path
from types import FunctionType

from flask import Flask, g, request
from flask.sessions import NullSession, SessionInterface

from app import (
    buildinfo,
    db,
    errors,
    http_headers,
    internal_auth,
    logs,
    options,
    prometheus,
    ratelimit,
    swagger,
    websocket_server,
)
from app.api import fields, json_provider, smorest
from app.api import v0 as api_v0
from app.api import v2 as api_v2
from app.devurls.proxy import DevURLProxy
from app.proxy_headers import TrustedProxyFix, check_origins
from app.services import audit

FLASK_KEYS = ("TESTING", "DEBUG", "PROPAGATE_EXCEPTIONS", "SERVER_NAME")


def create_app(config: dict | None = None) -> Flask:
    """Build the app.

    `config` is the test mapping: option keys or `CODER_*` names override every other source;
    Flask keys (TESTING, …) go to `app.config`; `OPTION_FLAGS` carries parsed command-line flags;
    `INSTANCE_PATH` moves the instance folder; `IGNORE_ENV` ignores the process environment.
    """
    config = dict(config or {})
    flags = config.pop("OPTION_FLAGS", None)
    instance_path = config.pop("INSTANCE_PATH", None)
    env = {} if config.pop("IGNORE_ENV", False) else os.environ
    flask_config = {key: config.pop(key) for key in FLASK_KEYS if key in config}
    settings = options.load(env=env, flags=flags, overrides=config)

    app = PycoderdFlask(__name__, instance_path=instance_path)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.update(flask_config)
    app.config["SETTINGS"] = settings
    db.open_database(settings, app.instance_path)  # before the secret key: a bad URL is told first
    app.config["SECRET_KEY"] = _secret_key(settings, app.instance_path)
    app.config["MAX_CONTENT_LENGTH"] = settings["pycoderd.max_request_body_bytes"]
    app.config["BUILD_VERSION"] = buildinfo.version()
    app.json.sort_keys = False
    app.session_interface = NoCookieSessions()

    logs.configure(settings)
    prometheus.init_app(app)
    _init_request_hooks(app)
    ratelimit.init_app(app)
    http_headers.init_app(app)
    _init_apis(app)
    swagger.init_app(app)
    internal_auth.init_app(app)
    errors.init_app(app)

    try:
        check_origins(settings["proxy_trusted_origins"])
    except ValueError as exc:
        raise options.OptionError(f"CODER_PROXY_TRUSTED_ORIGINS: {exc}") from None
    # pycoderd's own WebSockets (wsep, watch-update) run once Flask has answered their handshake.
    websocket_server.init_app(app)
    # Dev URL hosts are proxied before any routing; trusted proxy headers are applied first;
    # every request, API or dev URL, gets its access line.
    app.wsgi_app = app.extensions["devurl_proxy"] = DevURLProxy(app.wsgi_app, app)
    if settings["proxy_trusted_origins"]:
        app.wsgi_app = TrustedProxyFix(
            app.wsgi_app, settings["proxy_trusted_headers"], settings["proxy_trusted_origins"]
        )
    app.wsgi_app = logs.AccessLog(app.wsgi_app)
    return app


class PycoderdFlask(Flask):
    """Flask, encoding JSON with orjson (app.api.json_provider); a plain function is known to be
    no coroutine by its code's flags (Flask asks `inspect` for every view and hook, on every
    request, which costs more)."""

    json_provider_class = json_provider.JSONProvider

    def ensure_sync(self, func):
        if (
            type(func) is FunctionType
            and not func.__code__.co_flags & inspect.CO_COROUTINE
            and "_is_coroutine_marker" not in func.__dict__  # inspect.markcoroutinefunction
        ):
            return func
        return super().ensure_sync(func)


class NoCookieSessions(SessionInterface):
    """Tokens authenticate, never Flask's cookie session: skip its per-request cost."""

    def open_session(self, app, request):
        return NullSession()

    def save_session(self, app, session, response):
        return None


def _secret_key(settings, instance_path: str) -> str:
    """The configured secret key; the embedded default generates and keeps one."""
    if settings["pycoderd.secret_key"]:
        return settings["pycoderd.secret_key"]
    if settings["pg_connection_url"]:
        raise options.OptionError(
            "CODER_SECRET_KEY: required when CODER_PG_CONNECTION_URL is set "
            "(every server of the deployment must share it)"
        )
    path = Path(instance_path) / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def _init_request_hooks(app: Flask) -> None:
    version = app.config["BUILD_VERSION"]

    @app.before_request
    def _begin():
        audit.begin_request()
        g.request_id = request.environ[logs.REQUEST_ID_KEY] = logs.new_request_id()
        limit = app.config["MAX_CONTENT_LENGTH"]
        if request.content_length is not None and request.content_length > limit:
            raise errors.PayloadTooLarge()
        if "\x00" in request.path:  # no object's id or name holds one (PostgreSQL cannot)
            raise errors.NotFound()

    @app.after_request
    def _headers(response):  # registered first, so run last: the status is final
        audit.settle_statuses(response.status_code)
        http_headers.put(
            response.headers,
            (
                ("X-Coder-Build-Version", version),
                ("X-Coder-Request-Id", g.get("request_id") or logs.new_request_id()),
                ("X-Content-Type-Options", "nosniff"),
            ),
        )
        user = g.get("user")
        if user is not None:  # for the access line (logs.AccessLog)
            request.environ[logs.USER_KEY] = user.username
        return response

    @app.teardown_request
    def _end(exc):
        db.close()

    @app.get("/healthz")
    def healthz():
        return "OK", 200, {"Content-Type": "text/plain; charset=utf-8"}


def _init_apis(app: Flask) -> None:
    version = app.config["BUILD_VERSION"]
    for prefix, title, description in (
        ("V0", "Coder API v0 (classic)", api_v0.DESCRIPTION),
        ("V2", "Coder API v2 (general)", api_v2.DESCRIPTION),
    ):
        app.config[f"{prefix}_API_TITLE"] = title
        app.config[f"{prefix}_API_VERSION"] = version
        app.config[f"{prefix}_OPENAPI_VERSION"] = "3.0.3"
        app.config[f"{prefix}_OPENAPI_URL_PREFIX"] = f"/api/{prefix.lower()}"
        app.config[f"{prefix}_OPENAPI_JSON_PATH"] = "openapi.json"
        app.config[f"{prefix}_API_SPEC_OPTIONS"] = {
            "info": {"description": description},
            "components": {"securitySchemes": smorest.SECURITY_SCHEMES[prefix.lower()]},
        }
    for api_class, prefix, package in (
        (smorest.ApiV0, "V0", api_v0),
        (smorest.ApiV2, "V2", api_v2),
    ):
        api = api_class(
            app, config_prefix=prefix, spec_kwargs={"extra_plugins": [ratelimit.OpenAPIPlugin()]}
        )
        api.register_field(fields.Timestamp, "string", "date-time")
        package.register(api)
