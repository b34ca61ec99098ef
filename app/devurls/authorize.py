"""nginx in front of dev URLs: pycoderd decides who may reach which workspace address, nginx
carries the bytes (README "Dev URLs behind nginx"; the configuration is `app/devurls/nginx.py`'s).

nginx's `auth_request` asks `GET /.pycoderd/devurl-authorize` on the dev URL's own host, with the
visitor's headers (cookies, tokens, Origin, the hop marker) and the request line in
`X-Pycoderd-Original-*`. The answer is the proxy's own decision (`DevURLProxy.decide`, the same
function its forwarding uses):

- 200 with where the request goes and what it carries: `X-Pycoderd-Upstream` (`address:port`),
  `X-Pycoderd-Scheme`, `X-Pycoderd-Uri` (the target without pycoderd's token parameter),
  `X-Pycoderd-Cookie` (the visitor's cookies without pycoderd's), `X-Pycoderd-Hop` (the loop
  marker for the workspace);
- 401 not signed in, with `X-Pycoderd-Sign-In` (the ticket URL) for a browser's page load, which
  nginx answers with a redirect there;
- 403 for every other refusal (`X-Pycoderd-Refused`: the status pycoderd's own proxy answers, e.g.
  404, 502, 508): nginx then hands the request to pycoderd, whose proxy answers it the same way
  (auth_request understands no other status).

Only peers in CODER_PROXY_TRUSTED_ORIGINS are answered; anyone else gets 403 `forbidden`.
"""

from __future__ import annotations

import logging
from urllib.parse import unquote_to_bytes, urlsplit

from werkzeug.wrappers import Request

from app import errors, logs, proxy_headers
from app.devurls import replies, wire

log = logging.getLogger("pycoderd.devurls")

PATH = "/.pycoderd/devurl-authorize"
# What nginx tells of the visitor's request (the subrequest's own line is PATH).
ORIGINAL_METHOD = "X-Pycoderd-Original-Method"
ORIGINAL_URI = "X-Pycoderd-Original-Uri"
ORIGINAL_UPGRADE = "X-Pycoderd-Original-Upgrade"
# The answer.
UPSTREAM = "X-Pycoderd-Upstream"
SCHEME = "X-Pycoderd-Scheme"
URI = "X-Pycoderd-Uri"
COOKIE = "X-Pycoderd-Cookie"
SIGN_IN = "X-Pycoderd-Sign-In"
REFUSED = "X-Pycoderd-Refused"


def _environ_key(header: str) -> str:
    return "HTTP_" + header.upper().replace("-", "_")


class Authorizer:
    def __init__(self, proxy, settings):
        self.proxy = proxy
        self.networks = proxy_headers.networks(settings["proxy_trusted_origins"])

    def __call__(self, environ, start_response, label: str):
        if not self._from_trusted_proxy(environ):
            return replies.error(
                errors.Forbidden(
                    detail=f"{PATH} answers only the reverse proxies listed in "
                    "CODER_PROXY_TRUSTED_ORIGINS."
                ),
                start_response,
            )
        original = visitor_environ(environ)
        request = Request(original)
        upgrade = "websocket" in wire.tokens(original.get("HTTP_UPGRADE", ""))
        try:
            _, user, (scheme, address, port) = self.proxy.decide(request, label, upgrade)
        except errors.Unauthorized:
            headers = [(REFUSED, "401")]
            if _page_load(original, upgrade):
                headers.append((SIGN_IN, self.proxy.sign_in_url(request)))
            return _answer(start_response, "401 Unauthorized", headers)
        except errors.APIError as error:
            return _answer(start_response, "403 Forbidden", [(REFUSED, str(error.status))])
        except Exception:
            log.exception("dev URL authorization failed on %s", request.host)
            return _answer(start_response, "403 Forbidden", [(REFUSED, "500")])
        if user is not None:  # for the access line (logs.AccessLog)
            environ[logs.USER_KEY] = user.username
        target = wire.target(original)
        headers = [
            (UPSTREAM, f"[{address}]:{port}" if ":" in address else f"{address}:{port}"),
            (SCHEME, scheme),
            (URI, target),
            (COOKIE, wire.strip_cookies(original.get("HTTP_COOKIE", ""))),
            self.proxy.loops.hop(original),
        ]
        if not target.startswith("/") or any(c in v for _, v in headers for c in "\x00\r\n"):
            return _answer(start_response, "403 Forbidden", [(REFUSED, "400")])
        return _answer(start_response, "200 OK", headers)

    def _from_trusted_proxy(self, environ) -> bool:
        """Whether the peer that connected (before any forwarded-for rewriting) is trusted."""
        original = environ.get("werkzeug.proxy_fix.orig") or {}
        peer = original.get("REMOTE_ADDR") or environ.get("REMOTE_ADDR", "")
        return proxy_headers.is_trusted(self.networks, peer)


def visitor_environ(environ) -> dict:
    """The environ of the visitor's request as nginx received it: the subrequest's headers (the
    visitor's own, which nginx passes on) with the method, target and Upgrade nginx names."""
    original = dict(environ)
    uri = environ.get(_environ_key(ORIGINAL_URI), "") or "/"
    if not uri.startswith("/"):  # absolute form (`GET http://host/path`): its path and query
        parts = urlsplit(uri)
        uri = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    path, _, query = uri.partition("?")
    original["REQUEST_METHOD"] = environ.get(_environ_key(ORIGINAL_METHOD), "") or "GET"
    original["RAW_URI"] = original["REQUEST_URI"] = uri
    original["PATH_INFO"] = unquote_to_bytes(path).decode("latin-1")
    original["QUERY_STRING"] = query
    original["HTTP_UPGRADE"] = environ.get(_environ_key(ORIGINAL_UPGRADE), "")
    for key in ("HTTP_CONNECTION", "CONTENT_LENGTH", "HTTP_TRANSFER_ENCODING"):
        original.pop(key, None)
    return original


def _page_load(environ, upgrade: bool) -> bool:
    """A browser opening a page: sent on to sign in rather than shown a 401."""
    return (
        not upgrade
        and environ["REQUEST_METHOD"] in ("GET", "HEAD")
        and "text/html" in environ.get("HTTP_ACCEPT", "")
    )


def _answer(start_response, status: str, headers):
    start_response(
        status,
        [*headers, ("Content-Length", "0"), ("Cache-Control", "no-store")],
    )
    return [b""]
