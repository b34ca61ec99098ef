"""Dev URL sign-in: opaque single-use tickets, signed session cookies, safe redirect paths; no
I/O (the tickets' rows are app.services.devurls')."""

from __future__ import annotations

import hashlib
import secrets
import string
from dataclasses import dataclass
from urllib.parse import quote, unquote

from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE = "coder_devurl_session_token"
# Where the proxy redeems a ticket on a dev URL host; never forwarded to the workspace.
REDEEM_PATH = "/.pycoderd/devurl-auth"
TICKET_MAX_AGE = 60  # seconds: a ticket only has to survive one redirect
_SESSION_SALT = "pycoderd.devurl-session"
# Left as they are in a redirect path; anything else (non-ASCII) is percent-encoded.
_PATH_SAFE = string.ascii_letters + string.digits + "/%?=&;:@!$'()*+,~#-._[]"


class InvalidTicket(ValueError):
    """A ticket or cookie that is forged, expired, used or meant for another host."""


@dataclass(frozen=True)
class Grant:
    """Who a ticket or cookie speaks for: the user and the API key that vouched for them."""

    user_id: str
    key_id: str
    host: str
    path: str = "/"


def new_ticket() -> tuple[str, str]:
    """(ticket, its digest): 256 random bits for the URL, only the digest for the database."""
    ticket = secrets.token_urlsafe(32)
    return ticket, digest(ticket)


def digest(ticket: str) -> str:
    return hashlib.sha256(ticket.encode("utf-8", "surrogatepass")).hexdigest()


def safe_path(path: str) -> str:
    """`path` (with its query) when it can only mean a path on the same host, else "/".

    One leading `/`, never `//`, no backslash (browsers read `/\\evil.example` as
    `//evil.example`) and no control characters (browsers drop tabs and newlines), both as
    given and once percent-decoded.
    """
    for text in (path, unquote(path)):
        if (
            not text.startswith("/")
            or text.startswith("//")
            or "\\" in text
            or any(ord(c) < 0x20 or ord(c) == 0x7F for c in text)
        ):
            return "/"
    return quote(path, safe=_PATH_SAFE)


def session_cookie(secret: str, grant: Grant) -> str:
    return _serializer(secret).dumps(
        {"u": grant.user_id, "k": grant.key_id, "h": grant.host.lower(), "p": grant.path}
    )


def read_session_cookie(secret: str, value: str, host: str, max_age: int) -> Grant:
    try:
        data = _serializer(secret).loads(value, max_age=max_age)
    except BadSignature as exc:  # SignatureExpired is a BadSignature
        raise InvalidTicket(str(exc)) from None
    if not isinstance(data, dict) or data.get("h") != host.lower():
        raise InvalidTicket("issued for another host")
    return Grant(user_id=str(data.get("u")), key_id=str(data.get("k")), host=host)


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=_SESSION_SALT)
