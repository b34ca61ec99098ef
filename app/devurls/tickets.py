"""Signed redirect tickets and dev URL session cookies (itsdangerous); no I/O."""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE = "coder_devurl_session_token"
# Where the proxy redeems a ticket on a dev URL host; never forwarded to the workspace.
REDEEM_PATH = "/.pycoderd/devurl-auth"
TICKET_MAX_AGE = 60  # seconds: a ticket only has to survive one redirect
_TICKET_SALT = "pycoderd.devurl-ticket"
_SESSION_SALT = "pycoderd.devurl-session"


class InvalidTicket(ValueError):
    """A ticket or cookie that is forged, expired or meant for another host."""


@dataclass(frozen=True)
class Grant:
    """Who a ticket or cookie speaks for: the user and the API key that vouched for them."""

    user_id: str
    key_id: str
    host: str
    path: str = "/"


def issue_ticket(secret: str, grant: Grant) -> str:
    return _serializer(secret, _TICKET_SALT).dumps(_payload(grant))


def redeem_ticket(secret: str, ticket: str, host: str) -> Grant:
    return _load(secret, _TICKET_SALT, ticket, host, TICKET_MAX_AGE)


def session_cookie(secret: str, grant: Grant) -> str:
    return _serializer(secret, _SESSION_SALT).dumps(_payload(grant))


def read_session_cookie(secret: str, value: str, host: str, max_age: int) -> Grant:
    return _load(secret, _SESSION_SALT, value, host, max_age)


def _serializer(secret: str, salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=salt)


def _payload(grant: Grant) -> dict:
    return {"u": grant.user_id, "k": grant.key_id, "h": grant.host.lower(), "p": grant.path}


def _load(secret: str, salt: str, value: str, host: str, max_age: int) -> Grant:
    try:
        data = _serializer(secret, salt).loads(value, max_age=max_age)
    except BadSignature as exc:  # SignatureExpired is a BadSignature
        raise InvalidTicket(str(exc)) from None
    if not isinstance(data, dict) or data.get("h") != host.lower():
        raise InvalidTicket("issued for another host")
    path = data.get("p") or "/"
    if not isinstance(path, str) or not path.startswith("/") or path.startswith("//"):
        path = "/"
    return Grant(user_id=str(data.get("u")), key_id=str(data.get("k")), host=host, path=path)
