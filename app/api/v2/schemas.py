"""Wire shapes of the v2 API that several resources share."""

import marshmallow as ma

from app.api.fields import Integer, Timestamp, ZeroTimestamp
from app.api.schemas import Schema

# v2 shows each stored site role under Coder's v2 names.
V2_ROLE_NAMES = {
    "site-admin": (("owner", "Owner"),),
    "site-manager": (("user-admin", "User Admin"), ("template-admin", "Template Admin")),
    "site-auditor": (("auditor", "Auditor"),),
}


ROLE_JSON_SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "display_name": {"type": "string"}},
}


class ResponseSchema(Schema):
    message = ma.fields.String()
    detail = ma.fields.String()


class UserSchema(Schema):
    id = ma.fields.String()
    username = ma.fields.String()
    email = ma.fields.String()
    created_at = Timestamp()
    last_seen_at = ZeroTimestamp(
        metadata={"description": "0001-01-01T00:00:00Z (Go's zero time) for a user never seen"}
    )
    status = ma.fields.String(metadata={"enum": ["active", "suspended"]})
    organization_ids = ma.fields.Method(
        "get_organization_ids", metadata={"type": "array", "items": {"type": "string"}}
    )
    roles = ma.fields.Method("get_roles", metadata={"type": "array", "items": ROLE_JSON_SCHEMA})
    avatar_url = ma.fields.String()

    def get_organization_ids(self, user):
        return [m.organization_id for m in user.memberships]

    def get_roles(self, user):
        return [
            {"name": name, "display_name": display}
            for role in user.roles
            for name, display in V2_ROLE_NAMES.get(role, ())
        ]


class APIKeySchema(Schema):
    id = ma.fields.String()
    user_id = ma.fields.String()
    last_used = Timestamp()
    expires_at = Timestamp()
    created_at = Timestamp()
    updated_at = Timestamp()
    login_type = ma.fields.String(metadata={"enum": ["password", "token"]})
    scope = ma.fields.String(metadata={"enum": ["all", "application_connect"]})
    token_name = ma.fields.Function(lambda key: key.token_name or "", metadata={"type": "string"})
    lifetime_seconds = Integer()


class APIKeyWithOwnerSchema(APIKeySchema):
    username = ma.fields.Function(lambda key: key.user.username, metadata={"type": "string"})


class GenerateAPIKeyResponseSchema(Schema):
    key = ma.fields.String()
