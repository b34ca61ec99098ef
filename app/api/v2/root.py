"""GET /api/v2/: the hello."""

from flask.views import MethodView

from app.api.smorest import Blueprint
from app.api.v2.schemas import ResponseSchema

blp = Blueprint("v2_root", __name__, url_prefix="/api/v2", description="General")


@blp.route("/", strict_slashes=False)  # /api/v2 answers too, not a redirect
class Root(MethodView):
    @blp.response(200, ResponseSchema)
    def get(self):
        """API root handler"""
        return {"message": "👋"}
