"""GET /api: the API's front door, with the coder-version header."""

from flask import current_app
from flask.views import MethodView

from app.api.smorest import Blueprint
from app.api.v0.schemas import APIRootSchema

blp = Blueprint("v0_root", __name__, url_prefix="/api", description="The API root", tag="API root")


@blp.route("/", strict_slashes=False)
class APIRoot(MethodView):
    @blp.response(200, APIRootSchema, headers={"coder-version": {"schema": {"type": "string"}}})
    def get(self):
        """Tell which server and version answers"""
        version = current_app.config["BUILD_VERSION"]
        return {"version": version, "api": "v0"}, 200, {"coder-version": version}
