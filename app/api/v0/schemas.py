"""Wire shapes of the v0 API that several resources share."""

import marshmallow as ma

from app.api.fields import Timestamp


class APIRootSchema(ma.Schema):
    version = ma.fields.String()
    api = ma.fields.String()


class UserSchema(ma.Schema):
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


class UserCreateSchema(ma.Schema):
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


class UserUpdateSchema(ma.Schema):
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
