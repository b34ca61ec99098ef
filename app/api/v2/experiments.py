"""GET /api/v2/experiments: the experiments this deployment enabled."""

from flask import current_app, jsonify
from flask.views import MethodView

from app.api.smorest import Blueprint
from app.services import experiments

blp = Blueprint("v2_experiments", __name__, url_prefix="/api/v2", description="General")


@blp.route("/experiments")
class Experiments(MethodView):
    @blp.login_required
    @blp.response(200, {"type": "array", "items": {"type": "string"}})
    def get(self):
        """Get experiments"""
        return jsonify(experiments.enabled(current_app.config["SETTINGS"]["experiments"]))
