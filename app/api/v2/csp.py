"""POST /api/v2/csp/reports: browsers report Content-Security-Policy violations here."""

import marshmallow as ma
from flask import jsonify
from flask.views import MethodView

from app.api.schemas import Schema
from app.api.smorest import Blueprint
from app.services import csp

blp = Blueprint("v2_csp", __name__, url_prefix="/api/v2/csp", description="General")


class CSPViolationSchema(Schema):
    report = ma.fields.Dict(
        data_key="csp-report",
        required=True,
        metadata={"description": "The violation, as the browser reports it"},
    )


@blp.route("/reports")
class CSPReports(MethodView):
    @blp.arguments(CSPViolationSchema)
    @blp.response(200, {"type": "string", "enum": ["ok"]})
    @blp.alt_response(400, response="BAD_REQUEST")
    def post(self, violation):
        """Report CSP violations"""
        csp.record(violation["report"])
        return jsonify("ok")
