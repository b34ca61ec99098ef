"""v2 API keys and named tokens of a user (`{user}` = UUID, username or `me`)."""

import marshmallow as ma
from flask.views import MethodView

from app import auth, errors
from app.api.fields import Integer
from app.api.schemas import Schema
from app.api.smorest import Blueprint
from app.api.v2.schemas import APIKeySchema, APIKeyWithOwnerSchema, GenerateAPIKeyResponseSchema
from app.services import api_keys, users

blp = Blueprint("v2_tokens", __name__, url_prefix="/api/v2/users", description="Users")

NANOSECONDS = 1_000_000_000


class CreateTokenRequestSchema(Schema):
    lifetime = Integer(
        load_default=0,
        metadata={"description": "nanoseconds; 0 = 30 days"},
    )
    scope = ma.fields.String(load_default="all", validate=ma.validate.OneOf(api_keys.SCOPES))
    token_name = ma.fields.String(load_default="", validate=ma.validate.Length(max=255))


class TokensQueryArgsSchema(Schema):
    include_all = ma.fields.Boolean(load_default=False)


class TokenConfigSchema(Schema):
    max_token_lifetime = Integer(metadata={"description": "nanoseconds"})


def _owner(user):
    return users.resolve_v2(auth.current_user(), user)


@blp.route("/<string:user>/keys")
class Keys(MethodView):
    @blp.login_required
    @blp.error_responses(400, 404)
    @blp.response(201, GenerateAPIKeyResponseSchema)
    def post(self, user):
        """Create new session key"""
        return {"key": api_keys.create_key(auth.caller(), _owner(user)).token}


@blp.route("/<string:user>/keys/tokens")
class Tokens(MethodView):
    @blp.login_required
    @blp.arguments(TokensQueryArgsSchema, location="query")
    @blp.error_responses(404)
    @blp.response(200, APIKeyWithOwnerSchema(many=True))
    def get(self, args, user):
        """Get user tokens"""
        owner = _owner(user)
        return api_keys.list_keys(auth.current_user(), owner, include_all=args["include_all"])

    @blp.login_required
    @blp.arguments(CreateTokenRequestSchema)
    @blp.error_responses(404, 409)
    @blp.response(201, GenerateAPIKeyResponseSchema)
    def post(self, data, user):
        """Create token API key"""
        new = api_keys.create_token(
            auth.caller(),
            _owner(user),
            token_name=data["token_name"],
            lifetime_seconds=_seconds(data["lifetime"]),
            max_lifetime_ns=auth.lifetimes().max_token_ns,
            scope=data["scope"],
        )
        return {"key": new.token}


def _seconds(nanoseconds: int) -> int:
    """Whole seconds, rounding a positive sub-second lifetime up rather than to 0 (= default)."""
    if nanoseconds > 0:
        return max(1, nanoseconds // NANOSECONDS)
    return -1 if nanoseconds < 0 else 0


@blp.route("/<string:user>/keys/tokens/tokenconfig")
class TokenConfig(MethodView):
    @blp.login_required
    @blp.error_responses(400)
    @blp.response(200, TokenConfigSchema)
    def get(self, user):
        """Get token config"""
        if users.find(user, auth.current_user()) is None:
            raise errors.BadRequest('"user" must be an existing uuid or username.')
        return {"max_token_lifetime": auth.lifetimes().max_token_ns}


@blp.route("/<string:user>/keys/tokens/<string:keyname>")
class TokenByName(MethodView):
    @blp.login_required
    @blp.error_responses(400, 404)
    @blp.response(200, APIKeySchema)
    def get(self, user, keyname):
        """Get API key by token name"""
        return api_keys.get_token_by_name(auth.current_user(), _owner(user), keyname)


@blp.route("/<string:user>/keys/<string:keyid>")
class KeyById(MethodView):
    @blp.login_required
    @blp.error_responses(400, 404)
    @blp.response(200, APIKeySchema)
    def get(self, user, keyid):
        """Get API key by ID"""
        return api_keys.get_key(auth.current_user(), _owner(user), keyid)

    @blp.login_required
    @blp.error_responses(400, 404)
    @blp.response(204)
    def delete(self, user, keyid):
        """Delete API key"""
        api_keys.delete_key(auth.caller(), _owner(user), keyid)
