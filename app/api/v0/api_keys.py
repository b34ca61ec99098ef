"""v0 API keys: named tokens minted for yourself or, by site managers, for someone else."""

import marshmallow as ma
from flask.views import MethodView

from app import auth
from app.api.fields import ZeroTimestamp
from app.api.schemas import Schema
from app.api.smorest import Blueprint
from app.services import api_keys, users

blp = Blueprint("v0_api_keys", __name__, url_prefix="/api/v0/api-keys", description="API keys")


class APIKeyCreateSchema(Schema):
    name = ma.fields.String(
        load_default=None, allow_none=True, validate=ma.validate.Length(max=255)
    )


class KeySchema(Schema):
    key = ma.fields.String(metadata={"description": "The token; shown once"})


class APITokenSchema(Schema):
    id = ma.fields.String()
    name = ma.fields.Function(lambda key: key.token_name or "", metadata={"type": "string"})
    application = ma.fields.Boolean()
    user_id = ma.fields.String()
    last_used = ZeroTimestamp(
        attribute="used_at",
        metadata={"description": "0001-01-01T00:00:00Z (Go's zero time) until the key is used"},
    )


def _owner(user_id):
    return users.get_visible(auth.current_user(), user_id)


@blp.route("/<string:user_id>")
class APIKeys(MethodView):
    @blp.login_required
    @blp.error_responses(404)
    @blp.response(200, APITokenSchema(many=True))
    def get(self, user_id):
        """List a user's API keys"""
        return api_keys.list_keys(auth.current_user(), _owner(user_id))

    @blp.login_required
    @blp.arguments(APIKeyCreateSchema)
    @blp.error_responses(404, 409)
    @blp.response(201, KeySchema)
    @blp.no_store
    def post(self, data, user_id):
        """Create an API key for a user"""
        new = api_keys.create_v0(auth.caller(), _owner(user_id), data["name"], auth.lifetimes())
        return {"key": new.token}


@blp.route("/<string:user_id>/<string:key_id>")
class APIKeyById(MethodView):
    @blp.login_required
    @blp.error_responses(404)
    @blp.response(200, APITokenSchema)
    def get(self, user_id, key_id):
        """Get an API key"""
        return api_keys.get_key(auth.current_user(), _owner(user_id), key_id)

    @blp.login_required
    @blp.error_responses(404)
    @blp.response(204)
    def delete(self, user_id, key_id):
        """Delete an API key"""
        api_keys.delete_key(auth.caller(), _owner(user_id), key_id)


@blp.route("/<string:user_id>/<string:key_id>/regen")
class APIKeyRegen(MethodView):
    @blp.login_required
    @blp.error_responses(404)
    @blp.response(200, KeySchema)
    @blp.no_store
    def post(self, user_id, key_id):
        """Regenerate an API key's secret"""
        return {"key": api_keys.regenerate(auth.caller(), _owner(user_id), key_id).token}
