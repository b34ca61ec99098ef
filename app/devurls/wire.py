"""What crosses the wire to and from a workspace: the cleaned request head, its body, the
response's headers. pycoderd's credentials and hop-by-hop headers never reach the workspace."""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, urlencode

from app import errors
from app.auth import SESSION_COOKIE, SESSION_HEADERS, SESSION_QUERY
from app.devurls import tickets

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


class BodyCutShort(Exception):
    """The client sent less of the request body than it announced."""


def tokens(header: str) -> set[str]:
    """A comma-separated header's tokens, lower-cased."""
    return {token.strip().lower() for token in header.split(",") if token.strip()}


def hop_by_hop(connection: str) -> frozenset:
    """The headers that stop at this hop: the standard ones and those `Connection` names."""
    return HOP_BY_HOP | tokens(connection)


def response_headers(response) -> list[tuple[str, str]]:
    """The workspace's response headers as they go on to the client."""
    dropped = hop_by_hop(response.header("Connection"))
    return [(name, value) for name, value in response.headers if name.lower() not in dropped]


def request_head(environ, extra: tuple[tuple[str, str], ...] = ()) -> bytes:
    """The request line and headers for the workspace, as bytes on the wire; `extra` headers
    replace the client's of the same name."""
    replaced = {name.lower() for name, _ in extra}
    lines = [f"{environ['REQUEST_METHOD']} {target(environ)} HTTP/1.1"]
    lines += [
        f"{name}: {value}"
        for name, value in _request_headers(environ)
        if name.lower() not in replaced
    ]
    lines += [f"{name}: {value}" for name, value in extra]
    if any(c in line for line in lines for c in "\x00\r\n"):
        raise errors.BadRequest("The request has a control character in its target or headers.")
    try:
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    except UnicodeEncodeError:
        raise errors.BadRequest("The request's target or headers are not Latin-1.") from None


def add_header(head: bytes, name: str, value: str) -> bytes:
    """`head` (from request_head) with one more header line."""
    return head[:-2] + f"{name}: {value}\r\n\r\n".encode("latin-1")


def has_body(environ) -> bool:
    """Whether the request carries a body (a Content-Length above 0, or chunked)."""
    return is_chunked(environ) or environ.get("CONTENT_LENGTH", "") not in ("", "0")


def is_chunked(environ) -> bool:
    return (
        not environ.get("CONTENT_LENGTH")
        and "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    )


def send_body(conn, environ) -> int:
    """Relay the request body in chunks; returns its size. Raises BodyCutShort when the client
    sent less than its Content-Length (the workspace would wait for the rest)."""
    stream = environ["wsgi.input"]
    sent = 0
    if is_chunked(environ):
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
            raise BodyCutShort(f"The request body ended {remaining} bytes short.")
        conn.send(chunk)
        sent += len(chunk)
        remaining -= len(chunk)
    return sent


def target(environ) -> str:
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
    connection = hop_by_hop(environ.get("HTTP_CONNECTION", ""))
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
            value = strip_cookies(value)
            if not value:
                continue
        yield name, value
    if is_chunked(environ):
        yield "Transfer-Encoding", "chunked"
    # Behind a trusted proxy, ProxyFix already made REMOTE_ADDR the client named in the header:
    # append the address of the peer that actually connected (the proxy), not the client again.
    original = environ.get("werkzeug.proxy_fix.orig") or {}
    remote = original.get("REMOTE_ADDR") or environ.get("REMOTE_ADDR", "")
    forwarded = environ.get("HTTP_X_FORWARDED_FOR", "")
    yield "X-Forwarded-For", f"{forwarded}, {remote}" if forwarded else remote
    yield "X-Forwarded-Proto", environ.get("wsgi.url_scheme", "http")
    yield "X-Forwarded-Host", environ.get("HTTP_HOST", "")


def strip_cookies(header: str) -> str:
    kept = []
    for part in header.split(";"):
        name = part.split("=", 1)[0].strip()
        if name and name not in CREDENTIAL_COOKIES:
            kept.append(part.strip())
    return "; ".join(kept)
