"""GET /api/v2/buildinfo: what is running and where."""

import marshmallow as ma
from flask import current_app
from flask.views import MethodView

from app import buildinfo
from app.api.schemas import Schema
from app.api.smorest import Blueprint
from app.services import deployment

blp = Blueprint("v2_buildinfo", __name__, url_prefix="/api/v2", description="General")


class BuildInfoSchema(Schema):
    external_url = ma.fields.String(metadata={"description": "Where this build's source lives"})
    version = ma.fields.String(metadata={"description": "Semantic version with build metadata"})
    dashboard_url = ma.fields.String(metadata={"description": "The deployment's access URL"})
    workspace_proxy = ma.fields.Boolean()


@blp.route("/buildinfo")
class BuildInfo(MethodView):
    @blp.response(200, BuildInfoSchema)
    def get(self):
        """Build info"""
        return {
            "external_url": buildinfo.EXTERNAL_URL,
            "version": current_app.config["BUILD_VERSION"],
            "dashboard_url": deployment.access_url(current_app.config["SETTINGS"]),
            "workspace_proxy": False,
        }
