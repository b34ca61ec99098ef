"""GET /api/v2/experiments: the experiments this deployment enabled, and the safe ones."""

import marshmallow as ma
from flask import current_app, jsonify
from flask.views import MethodView

from app.api.schemas import Schema
from app.api.smorest import Blueprint
from app.services import experiments


class AvailableExperimentsSchema(Schema):
    safe = ma.fields.List(ma.fields.String())


blp = Blueprint("v2_experiments", __name__, url_prefix="/api/v2", description="General")


@blp.route("/experiments")
class Experiments(MethodView):
    @blp.login_required
    @blp.response(200, {"type": "array", "items": {"type": "string"}})
    def get(self):
        """Get experiments"""
        return jsonify(experiments.enabled(current_app.config["SETTINGS"]["experiments"]))


@blp.route("/experiments/available")
class AvailableExperiments(MethodView):
    @blp.login_required
    @blp.response(200, AvailableExperimentsSchema)
    def get(self):
        """Get safe experiments

        The experiments `*` enables (coderd's ExperimentsSafe; none in the reference releases).
        """
        return {"safe": list(experiments.SAFE)}
