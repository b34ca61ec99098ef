"""The classic CLI's password login: POST /auth/basic/login (v0 errors)."""

import marshmallow as ma
from flask.views import MethodView

from app import auth
from app.api.fields import Text
from app.api.schemas import Schema
from app.api.smorest import Blueprint

blp = Blueprint(
    "v0_auth_basic",
    __name__,
    url_prefix="/auth/basic",
    description="Password login for the classic CLI and other v0 clients.",
    tag="Authentication",
)


class BasicLoginSchema(Schema):
    email = Text(required=True, validate=ma.validate.Length(max=320))
    password = Text(required=True, load_only=True, validate=ma.validate.Length(max=1024))


class BasicLoginResultSchema(Schema):
    session_token = ma.fields.String()


@blp.route("/login")
class BasicLogin(MethodView):
    @blp.arguments(BasicLoginSchema)
    @blp.response(200, BasicLoginResultSchema)
    @blp.error_responses(401, 403)
    @blp.no_store
    def post(self, body):
        """Log in with email and password

        The same login as `POST /api/v2/users/login`: a session token (it lives as long as
        sessions do, CODER_MAX_SESSION_EXPIRY), the same rate limit (60 a minute per client,
        shared by every login path) and the same audit entries, successes and failures alike.
        A wrong email or password is a 401. No cookie is set: this is for programs.
        """
        new = auth.password_login(body["email"], body["password"])
        return {"session_token": new.token}
