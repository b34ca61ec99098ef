"""The dev URL reverse proxy: WSGI middleware that serves dev URL hosts before any routing.

Requests whose Host is under the wildcard access URL never reach Flask: the proxy resolves the
dev URL, checks who visits and whether they may, then hands the request to `forwarding` (plain
HTTP) or `websocket` (upgrades). Credentials presented to pycoderd (session headers, cookies,
the query parameter) are stripped before the request reaches the workspace (`wire`).
"""

from __future__ import annotations

import logging
import uuid
from typing import NamedTuple
from urllib.parse import quote

from werkzeug.wrappers import Request

from app import csrf, db, errors, logs, options
from app.auth import SESSION_COOKIE, SESSION_HEADERS, SESSION_QUERY
from app.devurls import authorize, forwarding, hosts, loops, replies, tickets, websocket, wire
from app.devurls.traffic import Recorder, Sample
from app.models.base import utcnow
from app.services import api_keys, devurls
from app.services.context import Caller

log = logging.getLogger("pycoderd.devurls")

TICKET_ENDPOINT = "/api/v0/devurls/ticket"


class Decision(NamedTuple):
    """A visit the proxy allows: the dev URL's route, the visitor (None: anonymous) and the
    target, (scheme, address, port)."""

    route: devurls.Route
    user: object
    target: tuple[str, str, int]


class DevURLProxy:
    """Wraps the app's WSGI callable; requests for other hosts pass straight through."""

    def __init__(self, wsgi_app, app):
        settings = app.config["SETTINGS"]
        self.wsgi_app = wsgi_app
        self.wildcard = hosts.Wildcard.from_settings(settings)
        if settings["wildcard_access_url"].strip() and self.wildcard is None:
            raise options.OptionError(
                f'CODER_WILDCARD_ACCESS_URL: "{settings["wildcard_access_url"]}" is not a '
                "wildcard host such as *.apps.example.com"
            )
        self.access_url = settings["access_url"].rstrip("/")
        self.secret = app.config["SECRET_KEY"]
        self.timeout = settings["pycoderd.devurl_proxy_timeout"] / 1e9 or None
        self.network = settings["pycoderd.workspace_network"]
        self.session_seconds = max(60, settings["max_session_expiry"] // 1_000_000_000)
        self.secure_cookie = settings["secure_auth_cookie"]
        self.refresh_expiry = not settings["disable_session_expiry_refresh"]
        self.loops = loops.Guard(settings, self.secret)
        self.recorder = Recorder()
        self.http = forwarding.Forwarder(self.timeout, self.recorder)
        self.websockets = websocket.Relay(settings, self.timeout, self.recorder)
        self.authorizer = authorize.Authorizer(self, settings)

    def __call__(self, environ, start_response):
        label = self.wildcard.label(environ.get("HTTP_HOST", "")) if self.wildcard else None
        if label is None:
            return self.wsgi_app(environ, start_response)
        request = Request(environ)
        try:
            if request.path == authorize.PATH:
                return self.authorizer(environ, start_response, label)
            self.loops.check_request(environ)
            if request.path == tickets.REDEEM_PATH:
                return self._redeem(request, start_response)
            decision = self.decide(request, label, websocket.requested(environ))
        except errors.APIError as error:
            return replies.error(error, start_response)
        except Exception as exc:
            error = errors.unexpected(exc)
            if error.status == 500:
                log.exception("dev URL proxy failed on %s %s", request.host, request.path)
            return replies.error(error, start_response)
        finally:
            db.close()
        return self._forward(environ, start_response, decision)

    # --- deciding ------------------------------------------------------------------------

    def decide(self, request: Request, label: str, upgrade: bool) -> Decision:
        """Who visits the dev URL at `label` and whether they may; where their request goes.

        The one decision of both ways to a workspace: this proxy's own forwarding and nginx's
        (`authorize`). `upgrade`: the request asks for a WebSocket. Raises an APIError for any
        refusal (401 not signed in, 403, 404, 502, 508...)."""
        self.loops.check_request(request.environ)
        if upgrade:
            _check_websocket_origin(request)
        route = devurls.resolve(label)
        if route is None:
            raise errors.NotFound("No dev URL at this address.")
        user, failure = self._visitor(request)
        try:
            if route.devurl is None:
                caller = Caller(
                    user=user,
                    ip=request.remote_addr or "",
                    user_agent=request.headers.get("User-Agent", ""),
                    request_id=str(uuid.uuid4()),
                )
                route = devurls.open_port(caller, route)
            devurls.check_access(route, user)
        except errors.Unauthorized as exc:
            exc.detail = failure or self._sign_in_hint(request)
            raise
        if route.workspace.container_status != "ON":
            raise errors.BadGateway(
                "The workspace is not running.",
                detail=f'Workspace "{route.workspace.name}" is '
                f"{route.workspace.container_status}; start it to reach its dev URLs.",
            )
        address = self._address(route.workspace)
        self.loops.check_target(address, route.devurl.port)
        if user is not None:  # for the access line (logs.AccessLog)
            request.environ[logs.USER_KEY] = user.username
        if self.recorder.visit_due(route.workspace.id, user.id if user else None):
            devurls.record_visit(route.workspace.id, user.id if user else None, utcnow())
        return Decision(route, user, (route.devurl.scheme, address, route.devurl.port))

    def _visitor(self, request: Request):
        """(user or None, why a presented credential failed)."""
        token = next(
            (
                value.strip()
                for value in (
                    request.cookies.get(SESSION_COOKIE),
                    request.args.get(SESSION_QUERY),
                    *(request.headers.get(name) for name in SESSION_HEADERS),
                )
                if value and value.strip()
            ),
            "",
        )
        if token:
            try:
                key = api_keys.authenticate(token)
            except errors.Unauthorized as exc:
                return None, exc.detail or exc.message
            api_keys.touch(key, ip=request.remote_addr or "", refresh_expiry=self.refresh_expiry)
            return key.user, ""
        cookie = request.cookies.get(tickets.COOKIE)
        if cookie:
            try:
                grant = tickets.read_session_cookie(
                    self.secret, cookie, request.host, self.session_seconds
                )
            except tickets.InvalidTicket:
                return None, "The dev URL session cookie is invalid or has expired."
            user = devurls.user_for_grant(grant.user_id, grant.key_id)
            if user is None:
                return None, "The session behind the dev URL cookie has ended."
            return user, ""
        return None, ""

    def _sign_in_hint(self, request: Request) -> str:
        return f"Sign in, then open {self.sign_in_url(request)}"

    def sign_in_url(self, request: Request) -> str:
        """Where a signed-in browser gets a ticket for the URL it asked for."""
        return f"{self.access_url}{TICKET_ENDPOINT}?url={quote(request.url, safe='')}"

    def _redeem(self, request: Request, start_response):
        """Trade a ticket from the API host for a session cookie on this dev URL host."""
        try:
            grant = devurls.redeem_ticket(request.args.get("ticket", ""), request.host)
        except tickets.InvalidTicket as exc:
            raise errors.Unauthorized(
                "The sign-in ticket is invalid, used or has expired.",
                detail="Tickets work once, within a minute, on the host they were issued for: "
                "open the dev URL again to get a new one.",
            ) from exc
        if devurls.user_for_grant(grant.user_id, grant.key_id) is None:
            raise errors.Unauthorized("The session that issued this ticket has ended.")
        cookie = f"{tickets.COOKIE}={tickets.session_cookie(self.secret, grant)}"
        cookie += f"; Path=/; Max-Age={self.session_seconds}; HttpOnly; SameSite=Lax"
        if self.secure_cookie:
            cookie += "; Secure"
        start_response(
            "302 Found",
            [
                ("Location", tickets.safe_path(grant.path)),
                ("Set-Cookie", cookie),
                ("Cache-Control", "no-store"),
                ("Content-Length", "0"),
            ],
        )
        return [b""]

    # --- forwarding ----------------------------------------------------------------------

    def _address(self, workspace) -> str:
        """The address the provisioner recorded when it started the container (host network:
        127.0.0.1, also for containers started before addresses were recorded)."""
        if workspace.network_address:
            return workspace.network_address
        if self.network == "host":
            return "127.0.0.1"
        raise errors.BadGateway(
            "The workspace's address is unknown.",
            detail=f'The container engine named no network address for workspace "{workspace.name}"'
            " when it started; rebuild the workspace to reach its dev URLs.",
        )

    def _forward(self, environ, start_response, decision: Decision):
        route, user, target = decision
        try:
            head = wire.request_head(environ, (self.loops.hop(environ),))
        except errors.APIError as error:
            return replies.error(error, start_response)
        sample = Sample(route.workspace.id)
        if websocket.requested(environ):
            return self.websockets.forward(environ, start_response, target, head, sample)
        # Connections are kept for one visitor of one dev URL: never shared across callers.
        pool_key = (route.devurl.id, user.id, *target) if user is not None else None
        return self.http.forward(environ, start_response, target, head, sample, pool_key)


def _check_websocket_origin(request: Request) -> None:
    """A WebSocket handshake carrying pycoderd's cookies must come from the dev URL's own
    origin: a page elsewhere must not open the app as its visitor (browsers always send
    `Origin` on handshakes; a client without one is no browser and is let through)."""
    sent = request.headers.get("Origin")
    if sent is None or not any(request.cookies.get(name) for name in wire.CREDENTIAL_COOKIES):
        return
    if csrf.origin_of(sent) != csrf.origin_of(f"{request.scheme}://{request.host}"):
        raise errors.Forbidden(
            detail="A WebSocket opened with the dev URL's cookie must come from the dev URL's "
            f'own origin, not "{sent[:200]}".'
        )
