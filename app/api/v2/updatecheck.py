"""GET /api/v2/updatecheck: is a newer release out?"""

import marshmallow as ma
from flask import current_app
from flask.views import MethodView

from app import buildinfo
from app.api.schemas import Schema
from app.api.smorest import Blueprint
from app.services import updatecheck

blp = Blueprint("v2_updatecheck", __name__, url_prefix="/api/v2", description="General")


class UpdateCheckSchema(Schema):
    current = ma.fields.Boolean(metadata={"description": "The running version is the latest"})
    version = ma.fields.String(metadata={"description": "The latest release's version"})
    url = ma.fields.String(metadata={"description": "Where the latest release is described"})


@blp.route("/updatecheck")
class UpdateCheck(MethodView):
    @blp.response(200, UpdateCheckSchema)
    def get(self):
        """Update check

        The latest release as the server's background process last found it (it checks
        update_check_url once a day). With the check off, or before a check has succeeded, the
        running version is echoed with `current: true`.
        """
        return updatecheck.answer(
            current_app.config["BUILD_VERSION"],
            buildinfo.EXTERNAL_URL,
            current_app.config["SETTINGS"]["update_check"],
        )
