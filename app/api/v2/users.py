"""v2 users: the first user, login and logout, and reading a user."""

import marshmallow as ma
from flask import current_app
from flask.views import MethodView

from app import auth, errors
from app.api.schemas import Schema
from app.api.smorest import Blueprint
from app.api.v2.schemas import V2_ROLE_NAMES, ResponseSchema, UserSchema
from app.services import organizations, sessions, users

blp = Blueprint("v2_users", __name__, url_prefix="/api/v2/users", description="Users")


class CreateFirstUserRequestSchema(Schema):
    email = ma.fields.Email(required=True)
    username = ma.fields.String(required=True)
    password = ma.fields.String(required=True, load_only=True)
    name = ma.fields.String(load_default="")
    trial = ma.fields.Boolean(load_default=False)


class CreateFirstUserResponseSchema(Schema):
    user_id = ma.fields.String()
    organization_id = ma.fields.String()


class LoginWithPasswordRequestSchema(Schema):
    email = ma.fields.Email(required=True)
    password = ma.fields.String(required=True, load_only=True, validate=ma.validate.Length(1))


class LoginWithPasswordResponseSchema(Schema):
    session_token = ma.fields.String()


class AuthMethodSchema(Schema):
    enabled = ma.fields.Boolean()


class OIDCAuthMethodSchema(AuthMethodSchema):
    sign_in_text = ma.fields.String(data_key="signInText")
    icon_url = ma.fields.String(data_key="iconUrl")


class AuthMethodsSchema(Schema):
    password = ma.fields.Nested(AuthMethodSchema)
    github = ma.fields.Nested(AuthMethodSchema)
    oidc = ma.fields.Nested(OIDCAuthMethodSchema)


class AssignableRolesSchema(Schema):
    name = ma.fields.String()
    display_name = ma.fields.String()
    assignable = ma.fields.Boolean()


# Every fixed word under /users/ (authmethods, first, login, logout, roles) has its own route:
# werkzeug matches a static path segment before the `{user}` converter, whatever the order.


@blp.route("/authmethods")
class AuthMethods(MethodView):
    @blp.response(200, AuthMethodsSchema)
    def get(self):
        """Get authentication methods

        Anyone may ask (the login page does). Passwords are off with CODER_DISABLE_PASSWORD_AUTH;
        pycoderd has no GitHub or OIDC login.
        """
        password = not current_app.config["SETTINGS"]["disable_password_auth"]
        return {
            "password": {"enabled": password},
            "github": {"enabled": False},
            "oidc": {"enabled": False, "sign_in_text": "", "icon_url": ""},
        }


@blp.route("/roles")
class SiteRoles(MethodView):
    @blp.login_required
    @blp.response(200, AssignableRolesSchema(many=True))
    def get(self):
        """Get site member roles

        The site roles, each `assignable` when the caller may give it (owners).
        """
        return users.assignable_site_roles(auth.current_user(), V2_ROLE_NAMES)


@blp.route("/first")
class FirstUser(MethodView):
    @blp.error_responses(404)
    @blp.response(200, ResponseSchema)
    def get(self):
        """Check initial user created"""
        if not users.has_first_user():
            raise errors.NotFound("The initial user has not been created!")
        return {"message": "The initial user has already been created!"}

    @blp.arguments(CreateFirstUserRequestSchema)
    @blp.error_responses(409)
    @blp.response(201, CreateFirstUserResponseSchema)
    def post(self, data):
        """Create initial user"""
        user = users.create_first(
            auth.caller(),
            username=data["username"],
            email=data["email"],
            password=data["password"],
            name=data["name"],
            keygen=auth.keygen(),
        )
        return {"user_id": user.id, "organization_id": organizations.default_organization().id}


@blp.route("/login")
class Login(MethodView):
    @blp.arguments(LoginWithPasswordRequestSchema)
    @blp.error_responses(401, 403)
    @blp.response(201, LoginWithPasswordResponseSchema)
    @blp.no_store
    def post(self, data):
        """Log in user"""
        lifetimes = auth.lifetimes()
        new = sessions.login(
            auth.caller(),
            email=data["email"],
            password=data["password"],
            lifetimes=lifetimes,
            password_auth_disabled=current_app.config["SETTINGS"]["disable_password_auth"],
        )
        auth.issue_session_cookie(new.token, lifetimes.session_seconds)
        return {"session_token": new.token}


@blp.route("/logout")
class Logout(MethodView):
    @blp.login_required(temporary_password_ok=True)
    @blp.response(200, ResponseSchema)
    def post(self):
        """Log out user"""
        sessions.logout(auth.caller(), auth.current_key())
        auth.end_session_cookie()
        return {"message": "Logged out!"}


@blp.route("/<string:user>")
class UserByName(MethodView):
    @blp.login_required(temporary_password_ok=True)
    @blp.error_responses(400, 404)
    @blp.response(200, UserSchema)
    def get(self, user):
        """Get user by name"""
        return users.resolve_v2(auth.current_user(), user)
