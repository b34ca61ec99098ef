"""The nginx configuration that serves dev URLs at nginx's speed: `pycoderd nginx-config`.

nginx asks pycoderd (`authorize`) before each request and then carries the bytes itself. The
configuration is rendered from the same names the proxy uses (its paths, the credential headers it
strips, the answer's headers), so the two cannot drift apart. README "Dev URLs behind nginx".
"""

from __future__ import annotations

import json
import re

from app import errors
from app.auth import SESSION_HEADERS
from app.devurls import authorize, hosts, loops, tickets

TEMPLATE = """\
# pycoderd dev URLs behind nginx ({command}).
# nginx asks pycoderd who may reach which workspace address (auth_request), then proxies the
# request itself: access levels, sign-in tickets, loop refusals and credential stripping stay
# pycoderd's. Put this in nginx's http {{ }} block (e.g. /etc/nginx/conf.d/pycoderd-devurls.conf).
# pycoderd must trust this nginx: CODER_PROXY_TRUSTED_ORIGINS=<nginx's address as pycoderd sees
# it> and CODER_PROXY_TRUSTED_HEADERS=X-Forwarded-For,X-Forwarded-Proto; otherwise it answers the
# authorization with 403 and every request takes the slow way through pycoderd's own proxy.

upstream pycoderd_devurls {{
    server {pycoderd};
    keepalive 16;
}}

# Only a WebSocket handshake keeps its upgrade; every other request to a workspace gets a
# connection of its own, closed after the answer: no connection is shared between visitors.
map $http_upgrade $pycoderd_devurl_connection {{
    default close;
    ~*websocket upgrade;
}}

server {{
    listen {listen};
    server_name ~^[^.]+\\.{suffix}$;
    # As the default server of its address, it also gets other hosts: nothing for them here.
    if ($host !~* "^[^.]+\\.{suffix}$") {{
        return 404;
    }}

    # Bodies stream both ways as through pycoderd's own proxy; pycoderd's limits do not apply.
    client_max_body_size 0;
    proxy_request_buffering off;
    proxy_http_version 1.1;
    proxy_buffers 16 64k;
    proxy_buffer_size 64k;
    # CODER_DEVURL_PROXY_TIMEOUT; reads wait for CODER_DEVURL_WEBSOCKET_IDLE_TIMEOUT, which
    # also ends a WebSocket without data.
    proxy_connect_timeout {timeout};
    proxy_send_timeout {timeout};
    proxy_read_timeout {idle};

    # The requests nginx hands to pycoderd (ticket redemption, refusals): as sent.
    proxy_set_header Host $http_host;
    proxy_set_header Upgrade $http_upgrade;
    proxy_set_header Connection $pycoderd_devurl_connection;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto $scheme;

    # pycoderd's decision, asked with the visitor's headers; never reachable from outside.
    location = {authorize_path} {{
        internal;
        proxy_pass http://pycoderd_devurls;
        proxy_pass_request_body off;
        proxy_set_header Content-Length "";
        proxy_set_header Connection "";
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header {original_method} $request_method;
        proxy_set_header {original_uri} $request_uri;
        proxy_set_header {original_upgrade} $http_upgrade;
    }}

    # A sign-in ticket is traded for the dev URL cookie by pycoderd.
    location = {redeem_path} {{
        proxy_pass http://pycoderd_devurls;
    }}

    location / {{
        auth_request {authorize_path};
{answers}
        # 401 on a page load: to the sign-in ticket; otherwise pycoderd's own answer.
        error_page 401 = @pycoderd_sign_in;
        # Any other refusal (403, 404, 502 workspace off, 508 loop...): pycoderd's own answer.
        error_page 403 = @pycoderd;
        error_page 502 = @pycoderd_bad_gateway;
        error_page 504 = @pycoderd_gateway_timeout;

        proxy_pass $pycoderd_scheme://$pycoderd_upstream$pycoderd_uri;
        proxy_set_header Host $http_host;
        # The visitor's cookies without pycoderd's; pycoderd's token headers removed.
        proxy_set_header Cookie $pycoderd_cookie;
{strip_headers}
        proxy_set_header {hop_header} $pycoderd_hop;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $pycoderd_devurl_connection;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header X-Forwarded-Host $http_host;
    }}

    location @pycoderd_sign_in {{
        if ($pycoderd_sign_in) {{
            return 302 $pycoderd_sign_in;
        }}
        proxy_pass http://pycoderd_devurls;
    }}

    location @pycoderd {{
        proxy_pass http://pycoderd_devurls;
    }}

    location @pycoderd_bad_gateway {{
        default_type application/json;
        add_header Cache-Control no-store always;
        return 502 '{bad_gateway}';
    }}

    location @pycoderd_gateway_timeout {{
        default_type application/json;
        add_header Cache-Control no-store always;
        return 504 '{gateway_timeout}';
    }}
}}
"""

# nginx variable <- pycoderd's answer header
ANSWERS = (
    ("pycoderd_upstream", authorize.UPSTREAM),
    ("pycoderd_scheme", authorize.SCHEME),
    ("pycoderd_uri", authorize.URI),
    ("pycoderd_cookie", authorize.COOKIE),
    ("pycoderd_hop", loops.HOP_HEADER),
    ("pycoderd_sign_in", authorize.SIGN_IN),
)


def render(settings, *, listen: str, pycoderd: str, command: str = "pycoderd nginx-config") -> str:
    """The configuration for this deployment's wildcard, nginx listening on `listen` and
    reaching pycoderd at `pycoderd` (host:port)."""
    wildcard = hosts.Wildcard.from_settings(settings)
    if wildcard is None:
        raise ValueError("CODER_WILDCARD_ACCESS_URL names no wildcard host (*.apps.example.com)")
    timeout = settings["pycoderd.devurl_proxy_timeout"] // 1_000_000_000 or 3600
    idle = settings["pycoderd.devurl_websocket_idle_timeout"] // 1_000_000_000 or 86400
    return TEMPLATE.format(
        command=command,
        pycoderd=_directive_value(pycoderd),
        listen=_directive_value(listen),
        suffix=re.escape(wildcard.suffix).replace("\\-", "-"),
        timeout=f"{timeout}s",
        idle=f"{max(idle, timeout)}s",
        authorize_path=authorize.PATH,
        redeem_path=tickets.REDEEM_PATH,
        original_method=authorize.ORIGINAL_METHOD,
        original_uri=authorize.ORIGINAL_URI,
        original_upgrade=authorize.ORIGINAL_UPGRADE,
        hop_header=loops.HOP_HEADER,
        answers="\n".join(
            f"        auth_request_set ${variable} $upstream_http_{_variable_name(header)};"
            for variable, header in ANSWERS
        ),
        strip_headers="\n".join(f'        proxy_set_header {name} "";' for name in SESSION_HEADERS),
        bad_gateway=_error_body(
            errors.BadGateway(
                "Nothing answers on the workspace's port.",
                detail="nginx could not reach the dev URL's port, or its answer was not HTTP.",
            )
        ),
        gateway_timeout=_error_body(
            errors.GatewayTimeout(detail=f"The workspace did not answer within {timeout} s.")
        ),
    )


def _variable_name(header: str) -> str:
    return header.lower().replace("-", "_")


def _directive_value(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.:\[\] -]+", text.strip()):
        raise ValueError(f'"{text}" is not an address such as 127.0.0.1:3000 or 443 ssl')
    return text


def _error_body(error: errors.APIError) -> str:
    return json.dumps(errors.body_v0(error)).replace("'", "\\u0027")
