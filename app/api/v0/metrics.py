"""v0 usage metrics: GET /api/v0/metrics/usage/active-users; the classic CLI's activity pushes."""

from flask.views import MethodView

from app import auth
from app.api.smorest import Blueprint
from app.api.v0.schemas import ActiveUsersQueryArgsSchema, ActiveUsersSchema, UsagePushSchema
from app.services import activity, metrics

blp = Blueprint("v0_metrics", __name__, url_prefix="/api/v0/metrics", description="Metrics")
usage_blp = Blueprint(
    "v0_usage_push",
    __name__,
    url_prefix="/api/private/metrics",
    description="Activity reports of the classic CLI and editors: they keep a workspace used.",
    tag="Metrics",
)


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


@usage_blp.route("/usage/push")
class UsagePush(MethodView):
    @usage_blp.login_required
    @usage_blp.arguments(UsagePushSchema)
    @usage_blp.response(200, description="Recorded (an empty object)")
    @usage_blp.error_responses(400, 403, 404)
    def post(self, body):
        """Report activity in your workspace

        Sets the workspace's `last_opened_at` and `last_connection_at` (so auto-off counts its
        idle time from now) and counts you as active today in the active-users metrics. Your own
        workspace only: 404 for one you may not see, 403 for someone else's you may see.
        """
        activity.push(auth.caller(), body["workspace_id"], body["source"])
        return {}
