"""GET /api: the API's front door, with the coder-version header."""

from flask import current_app
from flask.views import MethodView

from app.api.smorest import Blueprint
from app.api.v0.schemas import APIRootSchema

blp = Blueprint("v0_root", __name__, url_prefix="/api", description="The API root", tag="API root")

CODER_VERSION = {
    "description": (
        "The classic Coder release whose API v0 this server follows (CODER_CLASSIC_API_VERSION, "
        "default 1.20.0): the classic CLI compares its major.minor with it. pycoderd's own "
        "version is in X-Coder-Build-Version and the body's `version`."
    ),
    "schema": {"type": "string"},
}


@blp.route("/", strict_slashes=False)
class APIRoot(MethodView):
    @blp.response(200, APIRootSchema, headers={"coder-version": CODER_VERSION})
    def get(self):
        """Tell which server and version answers"""
        config = current_app.config
        classic = config["SETTINGS"]["pycoderd.classic_api_version"]
        return {"version": config["BUILD_VERSION"], "api": "v0"}, 200, {"coder-version": classic}
