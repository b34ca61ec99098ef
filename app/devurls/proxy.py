"""The dev URL reverse proxy: WSGI middleware that serves dev URL hosts before any routing.

Requests whose Host is under the wildcard access URL never reach Flask: the proxy resolves the
dev URL, checks its access level, and streams the request to the workspace's port and the answer
back in chunks (neither body is held whole). Credentials presented to pycoderd (session headers,
cookies, the query parameter) are stripped before the request reaches the workspace.
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
import uuid
from urllib.parse import parse_qsl, quote, urlencode

from werkzeug.wrappers import Request

from app import db, errors, logs, options
from app.auth import SESSION_COOKIE, SESSION_HEADERS, SESSION_QUERY
from app.devurls import hosts, tickets, upstream, websocket
from app.models.base import utcnow
from app.services import api_keys, devurls
from app.services.context import Caller

log = logging.getLogger("pycoderd.devurls")

CHUNK = 64 * 1024
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
CREDENTIAL_HEADERS = frozenset(name.lower() for name in SESSION_HEADERS)
CREDENTIAL_COOKIES = frozenset({SESSION_COOKIE, tickets.COOKIE})
TICKET_ENDPOINT = "/api/v0/devurls/ticket"


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
        self.recorder = Recorder()
        self.pool = Pool()
        self.websockets = websocket.Relay(self, settings)

    def __call__(self, environ, start_response):
        label = self.wildcard.label(environ.get("HTTP_HOST", "")) if self.wildcard else None
        if label is None:
            return self.wsgi_app(environ, start_response)
        request = Request(environ)
        try:
            if request.path == tickets.REDEEM_PATH:
                return self._redeem(request, start_response)
            route, user = self._decide(request, label)
            if user is not None:  # for the access line (logs.AccessLog)
                environ[logs.USER_KEY] = user.username
        except errors.APIError as error:
            return _error(error, start_response)
        except Exception as exc:
            error = errors.unexpected(exc)
            if error.status == 500:
                log.exception("dev URL proxy failed on %s %s", request.host, request.path)
            return _error(error, start_response)
        finally:
            db.close()
        return self._forward(environ, start_response, route, user)

    # --- deciding ------------------------------------------------------------------------

    def _decide(self, request: Request, label: str):
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
        if self.recorder.visit_due(route.workspace.id, user.id if user else None):
            devurls.record_visit(route.workspace.id, user.id if user else None, utcnow())
        return route, user

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
        target = quote(request.url, safe="")
        return f"Sign in, then open {self.access_url}{TICKET_ENDPOINT}?url={target}"

    def _redeem(self, request: Request, start_response):
        """Trade a ticket from the API host for a session cookie on this dev URL host."""
        try:
            grant = tickets.redeem_ticket(self.secret, request.args.get("ticket", ""), request.host)
        except tickets.InvalidTicket as exc:
            raise errors.Unauthorized("The sign-in ticket is invalid or has expired.") from exc
        if devurls.user_for_grant(grant.user_id, grant.key_id) is None:
            raise errors.Unauthorized("The session that issued this ticket has ended.")
        cookie = f"{tickets.COOKIE}={tickets.session_cookie(self.secret, grant)}"
        cookie += f"; Path=/; Max-Age={self.session_seconds}; HttpOnly; SameSite=Lax"
        if self.secure_cookie:
            cookie += "; Secure"
        start_response(
            "302 Found",
            [
                ("Location", grant.path),
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

    def _forward(self, environ, start_response, route, user):
        devurl = route.devurl
        try:
            address = self._address(route.workspace)
            head = _request_head(environ)
        except errors.APIError as error:
            return _error(error, start_response)
        key = (devurl.scheme, address, devurl.port)
        sample = Sample(route.workspace.id)
        if websocket.requested(environ):
            return self.websockets.forward(environ, start_response, key, head, sample)
        # Only bodiless requests go over a kept-alive connection: if the workspace closed it
        # meanwhile, they can be sent again on a fresh one.
        bodiless = not _is_chunked(environ) and environ.get("CONTENT_LENGTH", "") in ("", "0")
        conn = self.pool.take(key) if bodiless else None
        try:
            if conn is not None:
                try:
                    response = self._exchange(conn, environ, head, sample)
                except ConnectionError:
                    conn.close()
                    conn = None
            if conn is None:
                conn = upstream.Connection(*key, timeout=self.timeout)
                response = self._exchange(conn, environ, head, sample)
        except TimeoutError:
            conn.close()
            return _error(
                errors.GatewayTimeout(
                    detail=f"Port {devurl.port} of the workspace did not answer within "
                    f"{self.timeout:g} s."
                ),
                start_response,
            )
        except (OSError, upstream.BadResponse) as exc:
            if conn is not None:
                conn.close()
            return _error(
                errors.BadGateway(
                    f"Nothing answers on port {devurl.port} of the workspace.",
                    detail=f"{devurl.scheme} to port {devurl.port}: {exc}",
                ),
                start_response,
            )
        dropped = _hop_by_hop(response.header("Connection"))
        headers = [(name, value) for name, value in response.headers if name.lower() not in dropped]
        start_response(f"{response.status} {response.reason}", headers)
        return Body(conn, response, sample, self, key)

    def _exchange(self, conn, environ, head: bytes, sample):
        conn.send(head)
        sample.rx = _send_body(conn, environ, _is_chunked(environ))
        started = time.perf_counter()
        response = conn.read_response(environ["REQUEST_METHOD"])
        sample.latency_ms = (time.perf_counter() - started) * 1000
        return response


class Sample:
    def __init__(self, workspace_id: str):
        self.workspace_id = workspace_id
        self.rx = 0
        self.tx = 0
        self.latency_ms = 0.0


class Body:
    """The upstream's response body, relayed chunk by chunk; counted when the server closes it."""

    def __init__(self, conn, response, sample: Sample, proxy: DevURLProxy, key):
        self.conn = conn
        self.response = response
        self.sample = sample
        self.proxy = proxy
        self.key = key

    def __iter__(self):
        try:
            while True:
                chunk = self.response.read1(CHUNK)
                if not chunk:
                    return
                self.sample.tx += len(chunk)
                yield chunk
        except (OSError, upstream.BadResponse) as exc:
            # Headers are gone already: all that is left is cutting the response short.
            log.warning("dev URL upstream failed mid-response: %s", exc)

    def close(self):
        if self.response.complete and not self.response.will_close:
            self.proxy.pool.give(self.key, self.conn)
        else:
            self.conn.close()
        self.proxy.recorder.add(self.sample)


class Pool:
    """Idle kept-alive upstream connections, a few per workspace port."""

    def __init__(self, per_key: int = 16):
        self.per_key = per_key
        self.lock = threading.Lock()
        self.idle: dict = {}

    def take(self, key):
        with self.lock:
            conns = self.idle.get(key)
            return conns.pop() if conns else None

    def give(self, key, conn) -> None:
        with self.lock:
            conns = self.idle.setdefault(key, [])
            if len(conns) < self.per_key:
                conns.append(conn)
                return
        conn.close()


class Recorder:
    """Batches traffic samples (one insert a second at most) and throttles visit bookkeeping.

    A batch is written by the request that finds it a second old, or else by a timer: the last
    samples of a burst do not wait for the next request to reach this worker.
    """

    def __init__(self, flush_seconds: float = 1.0, visit_seconds: float = 60.0):
        self.flush_seconds = flush_seconds
        self.visit_seconds = visit_seconds
        self.lock = threading.Lock()
        self.pending: list[devurls.TrafficSample] = []
        self.flushed_at = time.monotonic()
        self.visits: dict = {}
        self.timer: threading.Timer | None = None

    def add(self, sample: Sample) -> None:
        with self.lock:
            self.pending.append(
                devurls.TrafficSample(
                    workspace_id=sample.workspace_id,
                    rx_bytes=sample.rx,
                    tx_bytes=sample.tx,
                    latency_ms=sample.latency_ms,
                    time=utcnow(),
                )
            )
            due = time.monotonic() - self.flushed_at >= self.flush_seconds
            if not due and self.timer is None:
                self.timer = threading.Timer(self.flush_seconds, self.flush)
                self.timer.daemon = True
                self.timer.start()
        if due:
            self.flush()

    def flush(self) -> None:
        with self.lock:
            batch, self.pending = self.pending, []
            self.flushed_at = time.monotonic()
            if self.timer is not None and self.timer is not threading.current_thread():
                self.timer.cancel()
            self.timer = None
        try:
            devurls.record_traffic(batch)
        except Exception:
            log.exception("could not record %d dev URL traffic samples", len(batch))
        finally:
            db.close()

    def visit_due(self, workspace_id: str, user_id: str | None) -> bool:
        key = (workspace_id, user_id)
        now = time.monotonic()
        with self.lock:
            last = self.visits.get(key)
            if last is not None and now - last < self.visit_seconds:
                return False
            if len(self.visits) > 10_000:
                self.visits.clear()
            self.visits[key] = now
        return True


def _error(error: errors.APIError, start_response):
    body = json.dumps(errors.body_v0(error)).encode()
    headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
        ("X-Content-Type-Options", "nosniff"),
        ("Cache-Control", "no-store"),
    ]
    headers += [(name, value) for name, value in error.headers.items() if value]
    start_response(f"{error.status} {http.client.responses.get(error.status, '')}", headers)
    return [body]


def _hop_by_hop(connection: str) -> frozenset:
    listed = {token.strip().lower() for token in connection.split(",") if token.strip()}
    return HOP_BY_HOP | listed


def _request_head(environ) -> bytes:
    """The request line and headers for the workspace, as bytes on the wire."""
    lines = [f"{environ['REQUEST_METHOD']} {_target(environ)} HTTP/1.1"]
    lines += [f"{name}: {value}" for name, value in _request_headers(environ)]
    if any(c in line for line in lines for c in "\x00\r\n"):
        raise errors.BadRequest("The request has a control character in its target or headers.")
    try:
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    except UnicodeEncodeError:
        raise errors.BadRequest("The request's target or headers are not Latin-1.") from None


def _target(environ) -> str:
    """The request target as the client sent it, minus pycoderd's token parameter."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or ""
    if raw.startswith("/"):
        path = raw.partition("?")[0]
    else:
        path = quote(environ.get("PATH_INFO", "").encode("latin-1"), safe="/%;:@&=+$,!~*'()")
    query = environ.get("QUERY_STRING", "")
    if SESSION_QUERY in query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, v) for k, v in pairs if k != SESSION_QUERY])
    return f"{path}?{query}" if query else path


def _request_headers(environ):
    connection = _hop_by_hop(environ.get("HTTP_CONNECTION", ""))
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            name = key[5:].replace("_", "-").title()
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            name = key.replace("_", "-").title()
        else:
            continue
        lower = name.lower()
        if not value or lower in connection or lower in CREDENTIAL_HEADERS:
            continue
        # Replaced below; and the front server already answered any `Expect: 100-continue`.
        if lower in ("x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "expect"):
            continue
        if lower == "cookie":
            value = _strip_cookies(value)
            if not value:
                continue
        yield name, value
    if _is_chunked(environ):
        yield "Transfer-Encoding", "chunked"
    # Behind a trusted proxy, ProxyFix already made REMOTE_ADDR the client named in the header:
    # append the address of the peer that actually connected (the proxy), not the client again.
    original = environ.get("werkzeug.proxy_fix.orig") or {}
    remote = original.get("REMOTE_ADDR") or environ.get("REMOTE_ADDR", "")
    forwarded = environ.get("HTTP_X_FORWARDED_FOR", "")
    yield "X-Forwarded-For", f"{forwarded}, {remote}" if forwarded else remote
    yield "X-Forwarded-Proto", environ.get("wsgi.url_scheme", "http")
    yield "X-Forwarded-Host", environ.get("HTTP_HOST", "")


def _strip_cookies(header: str) -> str:
    kept = []
    for part in header.split(";"):
        name = part.split("=", 1)[0].strip()
        if name and name not in CREDENTIAL_COOKIES:
            kept.append(part.strip())
    return "; ".join(kept)


def _is_chunked(environ) -> bool:
    return (
        not environ.get("CONTENT_LENGTH")
        and "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    )


def _send_body(conn, environ, chunked: bool) -> int:
    """Relay the request body in chunks; returns its size."""
    stream = environ["wsgi.input"]
    sent = 0
    if chunked:
        while True:
            chunk = stream.read(CHUNK)
            if not chunk:
                conn.send(b"0\r\n\r\n")
                return sent
            conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent += len(chunk)
    try:
        remaining = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        remaining = 0
    while remaining > 0:
        chunk = stream.read(min(CHUNK, remaining))
        if not chunk:
            break
        conn.send(chunk)
        sent += len(chunk)
        remaining -= len(chunk)
    return sent
