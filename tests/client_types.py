"""The wire types of Coder's own clients, to check pycoderd's answers against.

v0: the classic Go SDK's structs (cdr/coder-cli `coder-sdk`, v1.19/v1.20), checked as
`encoding/json` decodes into them: a JSON null leaves any Go value at its zero (so it passes), a
number meant for an `int` must be whole, a `time.Time` is an RFC 3339 string. v2: coder/coder's
generated TypeScript types (`site/src/api/typesGenerated.ts`, May 2023 and 2025), checked as the
web client's JSON Schema validation does: null only where the type says `| null`, optional
fields (`?`) may be absent. Every listed field must be present in both: a field a client knows
and the answer drops is a parity bug (issue 16).

Written from the clients' type declarations; no client code is copied or needed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

STRING, BOOL, INT, FLOAT, TIME = "string", "bool", "int", "float", "time"
GO_ZERO_TIME = "0001-01-01T00:00:00Z"
# Go's time.Time.UnmarshalJSON: RFC 3339 with optional fractional seconds and a zone.
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")


@dataclass(frozen=True)
class _Struct:
    fields: dict  # field name -> type


class Go(_Struct):
    """A Go struct."""


class TS(_Struct):
    """A TypeScript interface; `Optional(...)` fields may be absent."""


@dataclass(frozen=True)
class _Of:
    of: object


class Slice(_Of):
    """A Go slice or a TypeScript array."""


class Nullable(_Of):
    """TypeScript's `T | null`."""


class Optional(_Of):
    """TypeScript's `field?: T`."""


@dataclass(frozen=True)
class Enum:
    values: tuple


ANY = "any"


def problems(shape, value, path: str = "$", *, go: bool | None = None) -> list[str]:
    """What keeps `value` from decoding into `shape` (empty: it decodes)."""
    if isinstance(shape, _Struct):
        go = isinstance(shape, Go)
    if value is None:
        if go or isinstance(shape, Nullable) or shape == ANY:
            return []
        return [f"{path}: null where the client's type is {shape!r}"]
    if isinstance(shape, Nullable | Optional):
        return problems(shape.of, value, path, go=go)
    if shape == ANY:
        return []
    if isinstance(shape, _Struct):
        if not isinstance(value, dict):
            return [f"{path}: {value!r} is not an object"]
        found = []
        for name, field in shape.fields.items():
            if name not in value:
                if not isinstance(field, Optional):
                    found.append(f"{path}.{name}: missing")
                continue
            found.extend(problems(field, value[name], f"{path}.{name}", go=go))
        return found
    if isinstance(shape, Slice):
        if not isinstance(value, list):
            return [f"{path}: {value!r} is not an array"]
        found = []
        for index, item in enumerate(value):
            found.extend(problems(shape.of, item, f"{path}[{index}]", go=go))
        return found
    if isinstance(shape, Enum):
        return [] if value in shape.values else [f"{path}: {value!r} not in {shape.values}"]
    ok = {
        STRING: isinstance(value, str),
        BOOL: isinstance(value, bool),
        INT: isinstance(value, int) and not isinstance(value, bool),
        FLOAT: isinstance(value, int | float) and not isinstance(value, bool),
        TIME: isinstance(value, str) and bool(_RFC3339.match(value)),
    }[shape]
    return [] if ok else [f"{path}: {value!r} is not a {shape}"]


def check(shape, value) -> None:
    found = problems(shape, value)
    assert not found, found


# ---------------------------------------------------------------- v0: coder-sdk (Go)

GO_REGISTRY = Go(
    {
        "id": STRING,
        "organization_id": STRING,
        "friendly_name": STRING,
        "registry": STRING,
        "created_at": TIME,
        "updated_at": TIME,
    }
)
GO_OS_RELEASE = Go({"id": STRING, "pretty_name": STRING, "home_url": STRING})
GO_IMAGE_TAG = Go(
    {
        "image_id": STRING,
        "tag": STRING,
        "latest_hash": STRING,
        "hash_last_updated_at": TIME,
        "os_release": GO_OS_RELEASE,
        "workspaces": Slice(ANY),
        "updated_at": TIME,
        "created_at": TIME,
    }
)
GO_IMAGE = Go(
    {
        "id": STRING,
        "organization_id": STRING,
        "repository": STRING,
        "description": STRING,
        "url": STRING,
        "registry": GO_REGISTRY,
        "default_tag": GO_IMAGE_TAG,
        "default_cpu_cores": FLOAT,
        "default_memory_gb": FLOAT,
        "default_disk_gb": INT,
        "deprecated": BOOL,
        "created_at": TIME,
        "updated_at": TIME,
    }
)
GO_API_TOKEN = Go(
    {"id": STRING, "name": STRING, "application": BOOL, "user_id": STRING, "last_used": TIME}
)
GO_DEV_URL = Go(
    {"id": STRING, "url": STRING, "port": INT, "access": STRING, "name": STRING, "scheme": STRING}
)
# omitempty on every field: the SDK's PUT leaves out false and "" (so they must mean unchanged).
GO_CONFIG_WORKSPACES = Go(
    {
        "gpu_vendor": STRING,
        "enable_container_vms": BOOL,
        "enable_workspaces_as_code": BOOL,
        "enable_p2p": BOOL,
    }
)
# The coder-sdk error envelope (error.go: APIError).
GO_API_ERROR = Go(
    {"error": Go({"msg": STRING, "code": STRING, "details": ANY})},
)

# ---------------------------------------------------------------- v2: typesGenerated.ts

TS_ROLE = TS({"name": STRING, "display_name": STRING})
TS_USER = TS(
    {
        "id": STRING,
        "username": STRING,
        "email": STRING,
        "created_at": TIME,
        "last_seen_at": TIME,
        "status": Enum(("active", "suspended")),
        "organization_ids": Slice(STRING),
        "roles": Slice(TS_ROLE),
        "avatar_url": STRING,
    }
)
TS_API_KEY = TS(
    {
        "id": STRING,
        "user_id": STRING,
        "last_used": TIME,
        "expires_at": TIME,
        "created_at": TIME,
        "updated_at": TIME,
        "login_type": Enum(("password", "github", "oidc", "token", "none")),
        "scope": Enum(("all", "application_connect")),
        "token_name": STRING,
        "lifetime_seconds": INT,
    }
)
TS_AUTH_METHODS = TS(
    {
        "terms_of_service_url": Optional(STRING),  # 2025
        "password": TS({"enabled": BOOL}),
        # 2025's GithubAuthMethod adds default_provider_configured; May 2023's is AuthMethod.
        "github": TS({"enabled": BOOL, "default_provider_configured": Optional(BOOL)}),
        "oidc": TS({"enabled": BOOL, "signInText": STRING, "iconUrl": STRING}),
    }
)
TS_AVAILABLE_EXPERIMENTS = TS({"safe": Slice(STRING)})
TS_GENERATE_API_KEY_RESPONSE = TS({"key": STRING})
TS_RESPONSE = TS(
    {
        "message": STRING,
        "detail": Optional(STRING),
        "validations": Optional(Slice(TS({"field": STRING, "detail": STRING}))),
    }
)
