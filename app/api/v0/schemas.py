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
