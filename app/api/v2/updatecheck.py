"""GET /api/v2/updatecheck: is a newer release out?"""

import marshmallow as ma
from flask import current_app
from flask.views import MethodView

from app import buildinfo
from app.api.schemas import Schema
from app.api.smorest import Blueprint
from app.services import updatecheck

blp = Blueprint("v2_updatecheck", __name__, url_prefix="/api/v2", description="General")

EXTENSION = "pycoderd.updatecheck"


class UpdateCheckSchema(Schema):
    current = ma.fields.Boolean(metadata={"description": "The running version is the latest"})
    version = ma.fields.String(metadata={"description": "The latest release's version"})
    url = ma.fields.String(metadata={"description": "Where the latest release is described"})


@blp.route("/updatecheck")
class UpdateCheck(MethodView):
    @blp.response(200, UpdateCheckSchema)
    def get(self):
        """Update check"""
        return updatecheck.answer(
            current_app.config["BUILD_VERSION"],
            buildinfo.EXTERNAL_URL,
            current_app.extensions.get(EXTENSION),
        )


def init_app(app) -> None:
    """With the update check on, start checking when the app serves its first request."""
    settings = app.config["SETTINGS"]
    if not settings["update_check"]:
        return
    checker = updatecheck.Checker(settings["pycoderd.update_check_url"])
    app.extensions[EXTENSION] = checker
    app.before_request_funcs.setdefault(None, []).insert(0, _starter(checker))


def _starter(checker):
    def start_update_check():
        if not checker.started:
            checker.start()

    return start_update_check
