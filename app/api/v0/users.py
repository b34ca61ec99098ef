"""v0 users and their SSH keys."""

import marshmallow as ma
from flask.views import MethodView

from app import auth
from app.api import streaming
from app.api.schemas import Schema
from app.api.smorest import Blueprint
from app.api.v0.schemas import ListArgsSchema, UserCreateSchema, UserSchema, UserUpdateSchema
from app.services import users

blp = Blueprint("v0_users", __name__, url_prefix="/api/v0/users", description="Users")
_LISTED = UserSchema()  # made once: a schema's construction copies its fields


class SSHKeySchema(Schema):
    public_key = ma.fields.String()
    private_key = ma.fields.String(metadata={"description": "Shown to the key's owner only"})


@blp.route("", strict_slashes=False)
class Users(MethodView):
    @blp.login_required
    @blp.arguments(ListArgsSchema, location="query")
    @blp.response(200, UserSchema(many=True))
    def get(self, args):
        """List users (everyone for site admins and managers, else yourself)"""
        return streaming.json_list(_LISTED, users.list_visible(auth.current_user(), **args))

    @blp.login_required
    @blp.arguments(UserCreateSchema)
    @blp.error_responses(409)
    @blp.response(201, UserSchema)
    def post(self, data):
        """Create a user"""
        return users.create_by(auth.caller(), keygen=auth.keygen(), **data)


@blp.route("/<string:user_id>")
class UserById(MethodView):
    @blp.login_required(temporary_password_ok=True)
    @blp.error_responses(404)
    @blp.response(200, UserSchema)
    def get(self, user_id):
        """Get a user (`me` for yourself)"""
        return users.get_visible(auth.current_user(), user_id)

    @blp.login_required(temporary_password_ok=True)
    @blp.arguments(UserUpdateSchema)
    @blp.error_responses(404, 409)
    @blp.response(200, UserSchema)
    def patch(self, data, user_id):
        """Update a user; null or absent fields are unchanged"""
        user = users.get_visible(auth.current_user(), user_id)
        return users.update(auth.caller(), user, data)

    @blp.login_required
    @blp.error_responses(404, 409)
    @blp.response(204)
    def delete(self, user_id):
        """Delete a user"""
        users.delete(auth.caller(), users.get_visible(auth.current_user(), user_id))


@blp.route("/<string:user_id>/sshkey")
class UserSSHKey(MethodView):
    @blp.login_required
    @blp.error_responses(404)
    @blp.response(200, SSHKeySchema)
    @blp.no_store
    def get(self, user_id):
        """Get a user's SSH public key (and private key, for your own)"""
        user = users.get_visible(auth.current_user(), user_id)
        return users.ssh_key(auth.caller(), user, auth.keygen())

    @blp.login_required
    @blp.error_responses(404)
    @blp.response(200, SSHKeySchema)
    @blp.no_store
    def post(self, user_id):
        """Regenerate a user's SSH key pair"""
        user = users.get_visible(auth.current_user(), user_id)
        users.regenerate_ssh_key(auth.caller(), user, auth.keygen())
        return users.ssh_key(auth.caller(), users.find(user.id), auth.keygen())
