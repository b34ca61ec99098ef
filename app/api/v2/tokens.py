"""v2 API keys and named tokens of a user (`{user}` = UUID, username or `me`)."""

import json

import marshmallow as ma
from flask.views import MethodView

from app import auth, errors
from app.api.fields import INT64_MAX, INT64_MIN, Integer
from app.api.schemas import Schema
from app.api.smorest import Blueprint
from app.api.v2.schemas import APIKeySchema, APIKeyWithOwnerSchema, GenerateAPIKeyResponseSchema
from app.services import api_keys, users

blp = Blueprint("v2_tokens", __name__, url_prefix="/api/v2/users", description="Users")


class Nanoseconds(Integer):
    """A Go `time.Duration` in JSON: an int64 number of nanoseconds. Anything else (1.5, 2.0,
    1e9, "5", a number past int64) cannot be decoded into one: coderd's invalid-JSON answer."""

    def _deserialize(self, value, attr, data, **kwargs):
        if type(value) is not int or not INT64_MIN <= value <= INT64_MAX:
            raise errors.InvalidJSON(
                detail=f"{attr}: {json.dumps(value)} is not an int64 number of nanoseconds",
                validations=[(attr, "must be a whole number of nanoseconds (an int64)")],
            )
        return super()._deserialize(value, attr, data, **kwargs)


class CreateTokenRequestSchema(Schema):
    lifetime = Nanoseconds(
        load_default=0,
        metadata={
            "description": (
                "nanoseconds (an int64; fractions and other numbers are invalid JSON here); "
                "0 = 30 days or the maximum if shorter; more than the maximum, by even 1 ns, "
                "is a 400"
            )
        },
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
    @blp.no_store
    def post(self, user):
        """Create new session key

        A session key (the caller's session's login type, `password` when the caller used a
        token) living a week; unnamed, it is not listed among the user's tokens.
        """
        login_type = auth.current_key().login_type
        return {"key": api_keys.create_key(auth.caller(), _owner(user), login_type).token}


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
    @blp.no_store
    def post(self, data, user):
        """Create token API key"""
        new = api_keys.create_token(
            auth.caller(),
            _owner(user),
            token_name=data["token_name"],
            lifetime_ns=data["lifetime"],
            max_lifetime_ns=auth.lifetimes().max_token_ns,
            scope=data["scope"],
        )
        return {"key": new.token}


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
