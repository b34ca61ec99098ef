"""v2 users."""

from flask.views import MethodView

from app import auth
from app.api.smorest import Blueprint
from app.api.v2.schemas import UserSchema
from app.services import users

blp = Blueprint("v2_users", __name__, url_prefix="/api/v2/users", description="Users")


@blp.route("/<string:user>")
class UserByName(MethodView):
    @blp.login_required
    @blp.response(200, UserSchema)
    def get(self, user):
        """Get user by name"""
        return users.resolve_v2(auth.current_user(), user)
