"""Wire shapes of the v0 API that several resources share."""

import marshmallow as ma

from app.api.fields import Integer, Timestamp
from app.api.schemas import Schema


class APIRootSchema(Schema):
    version = ma.fields.String()
    api = ma.fields.String()


class ListArgsSchema(Schema):
    """Optional paging of a whole list (absent: the whole list, as the classic clients expect)."""

    limit = Integer(
        validate=ma.validate.Range(min=1),
        metadata={"description": "At most this many, oldest first; absent: all of them"},
    )
    offset = Integer(
        load_default=0,
        validate=ma.validate.Range(min=0),
        metadata={"description": "Skip this many first"},
    )


class UserSchema(Schema):
    id = ma.fields.String(dump_only=True)
    email = ma.fields.String()
    username = ma.fields.String()
    name = ma.fields.String()
    roles = ma.fields.List(ma.fields.String())
    temporary_password = ma.fields.Boolean()
    login_type = ma.fields.String()
    key_regenerated_at = Timestamp(allow_none=True)
    created_at = Timestamp()
    updated_at = Timestamp()


class UserCreateSchema(Schema):
    email = ma.fields.String(required=True)
    username = ma.fields.String(required=True)
    name = ma.fields.String(load_default="")
    password = ma.fields.String(load_default="", load_only=True)
    temporary_password = ma.fields.Boolean(load_default=False)
    login_type = ma.fields.String(
        load_default="built-in", validate=ma.validate.OneOf(("built-in", "saml", "oidc", "none"))
    )
    organizations = ma.fields.List(
        ma.fields.String(),
        attribute="organization_ids",
        load_default=lambda: ["default"],
        metadata={"description": "Organization ids; `default` names the default one"},
    )
    roles = ma.fields.List(ma.fields.String(), load_default=list)


class UserUpdateSchema(Schema):
    email = ma.fields.String(allow_none=True)
    username = ma.fields.String(allow_none=True)
    name = ma.fields.String(allow_none=True)
    password = ma.fields.String(allow_none=True, load_only=True)
    old_password = ma.fields.String(
        allow_none=True,
        load_only=True,
        metadata={"description": "Required to change your own password"},
    )
    temporary_password = ma.fields.Boolean(allow_none=True)
    roles = ma.fields.List(ma.fields.String(), allow_none=True)
    status = ma.fields.String(allow_none=True, metadata={"enum": ["active", "suspended"]})
    login_type = ma.fields.String(allow_none=True)


class OrganizationMemberSchema(UserSchema):
    """A member: the user, plus their roles in the organization."""

    organization_roles = ma.fields.List(ma.fields.String())
    roles_updated_at = Timestamp()

    @ma.pre_dump
    def _flatten(self, member, **kwargs):
        shown = {name: getattr(member.user, name) for name in UserSchema._declared_fields}
        return shown | {
            "organization_roles": member.roles,
            "roles_updated_at": member.roles_updated_at,
        }


class AuditQueryArgsSchema(Schema):
    limit = Integer(
        load_default=50,
        validate=ma.validate.Range(min=1, max=1000),
        metadata={"description": "Entries per page (1-1000)"},
    )
    offset = Integer(
        load_default=0,
        validate=ma.validate.Range(min=0),
        metadata={"description": "Entries to skip"},
    )
    resource_id = ma.fields.String(
        validate=ma.validate.Length(max=64), metadata={"description": "Only this resource"}
    )
    resource_type = ma.fields.String(
        validate=ma.validate.Length(max=32),
        metadata={"description": "`environment` (or `workspace`), `image`, `user`, ..."},
    )
    action = ma.fields.String(
        validate=ma.validate.Length(max=32),
        metadata={"description": "`create`, `write`, `delete`, `stop`, `login`, ..."},
    )
    user_id = ma.fields.String(
        validate=ma.validate.Length(max=36), metadata={"description": "Acting user's id or `me`"}
    )
    range_start = Integer(metadata={"description": "From this Unix time (inclusive)"})
    range_end = Integer(metadata={"description": "Before this Unix time (exclusive)"})
    output_format = ma.fields.String(
        data_key="format",
        load_default="json",
        validate=ma.validate.OneOf(["json", "ndjson"]),
        metadata={"description": "`ndjson` streams every matching entry, one per line"},
    )


class AuditEntrySchema(Schema):
    id = ma.fields.String()
    time = Timestamp()
    organization_id = ma.fields.String(allow_none=True)
    user_id = ma.fields.String(allow_none=True)
    username = ma.fields.String()
    ip = ma.fields.String()
    user_agent = ma.fields.String()
    action = ma.fields.String()
    resource_type = ma.fields.String()
    resource_id = ma.fields.String()
    resource_target = ma.fields.String()
    diff = ma.fields.Dict(metadata={"description": 'field -> {"old", "new"}; secrets ******'})
    status_code = Integer()
    request_id = ma.fields.String()


class ActiveUsersQueryArgsSchema(Schema):
    start = Timestamp(
        required=True, metadata={"description": "RFC 3339, e.g. 2022-01-01T00:00:00Z"}
    )
    end = Timestamp(required=True, metadata={"description": "RFC 3339, exclusive"})
    interval = ma.fields.String(
        required=True,
        validate=ma.validate.Length(max=32),
        metadata={"description": "`1 day`, `1 week` (ISO), `1 month`, `90 day` or `1 year`"},
    )


class ActiveUsersBucketSchema(Schema):
    time = Timestamp(metadata={"description": "Start of the bucket"})
    count = Integer(metadata={"description": "Distinct users active in the bucket"})


class ActiveUsersSchema(Schema):
    interval = ma.fields.String()
    start = Timestamp()
    end = Timestamp()
    data = ma.fields.List(ma.fields.Nested(ActiveUsersBucketSchema))


class UsagePushSchema(Schema):
    source = ma.fields.String(
        required=True,
        validate=ma.validate.Length(min=1, max=64),
        metadata={"description": "What reports the activity (`coder-cli`, an editor...)"},
    )
    workspace_id = ma.fields.String(
        required=True,
        validate=ma.validate.Length(min=1, max=64),
        metadata={"description": "Your workspace"},
    )
