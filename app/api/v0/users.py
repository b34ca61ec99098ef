"""v0 users."""

from flask.views import MethodView

from app import auth
from app.api.smorest import Blueprint
from app.api.v0.schemas import UserSchema
from app.services import users

blp = Blueprint("v0_users", __name__, url_prefix="/api/v0/users", description="Users")


@blp.route("/<string:user_id>")
class UserById(MethodView):
    @blp.login_required
    @blp.response(200, UserSchema)
    def get(self, user_id):
        """Get a user (`me` for yourself)"""
        return users.get_visible(auth.current_user(), user_id)
