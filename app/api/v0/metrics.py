"""v0 usage metrics: GET /api/v0/metrics/usage/active-users."""

from flask.views import MethodView

from app import auth
from app.api.smorest import Blueprint
from app.api.v0.schemas import ActiveUsersQueryArgsSchema, ActiveUsersSchema
from app.services import metrics

blp = Blueprint("v0_metrics", __name__, url_prefix="/api/v0/metrics", description="Metrics")


@blp.route("/usage/active-users")
class ActiveUsers(MethodView):
    @blp.login_required
    @blp.arguments(ActiveUsersQueryArgsSchema, location="query", as_kwargs=True)
    @blp.response(200, ActiveUsersSchema)
    @blp.alt_response(400, response="DEFAULT_ERROR")
    @blp.alt_response(403, response="DEFAULT_ERROR")
    def get(self, start, end, interval):
        """Count distinct active users per interval"""
        return metrics.active_users(auth.current_user(), start=start, end=end, interval=interval)
