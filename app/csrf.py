"""Cross-site request forgery: cookie-authenticated writes must come from pycoderd's own origin.

Dev URLs serve user content on subdomains of the same site, so SameSite cookies do not stop a
page there from sending the session cookie with a form post. What does: browsers send `Origin`
with every POST/PUT/PATCH/DELETE (same-origin ones included) and a page cannot forge it. A
cookie-authenticated unsafe request passes when its `Origin` is the access URL's origin or the
request's own origin (scheme and Host as the trusted-proxy fix resolved them; dev URL hosts never
reach the API, the proxy answers them). Without `Origin`, a `Referer` of one of those origins will
do; with neither the request is refused. Non-browser clients authenticate with a header or the
query parameter, which no form can send, and are not affected.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, request

from app import errors

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) URL or origin, or None when it has none."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or DEFAULT_PORTS[scheme]


def check() -> None:
    """Raise Forbidden unless this unsafe, cookie-authenticated request came from our origin."""
    if request.method in SAFE_METHODS:
        return
    own = {origin_of(f"{request.scheme}://{request.host}")}
    own.add(origin_of(current_app.config["SETTINGS"]["access_url"]))
    own.discard(None)
    sent = request.headers.get("Origin")
    if sent is None:
        sent = request.headers.get("Referer")
        if sent is None:
            raise _refused("the request has neither an Origin nor a Referer header")
    if origin_of(sent) not in own:
        raise _refused(f'it came from "{sent[:200]}"')


def _refused(why: str) -> errors.Forbidden:
    return errors.Forbidden(
        detail="Requests authenticated by the session cookie that change anything must come "
        f"from this deployment's own origin; {why}. Scripts: send the token in the "
        "Coder-Session-Token header instead."
    )
