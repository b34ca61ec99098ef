"""v0 organizations and their members."""

import marshmallow as ma
from flask.views import MethodView

from app import auth
from app.api.fields import Integer, Timestamp
from app.api.schemas import Schema
from app.api.smorest import Blueprint
from app.api.v0.schemas import OrganizationMemberSchema
from app.services import organizations

blp = Blueprint(
    "v0_organizations", __name__, url_prefix="/api/v0/orgs", description="Organizations"
)

ROLE = ma.fields.String(
    metadata={"enum": ["organization-admin", "organization-manager", "organization-member"]}
)


class OrganizationSchema(Schema):
    id = ma.fields.String()
    name = ma.fields.String()
    description = ma.fields.String()
    default = ma.fields.Boolean(attribute="is_default")
    members = ma.fields.List(ma.fields.Nested(OrganizationMemberSchema))
    workspace_count = Integer()
    resource_namespace = ma.fields.String()
    created_at = Timestamp()
    updated_at = Timestamp()
    auto_off_threshold = Integer(
        attribute="auto_off_threshold_ms", metadata={"description": "milliseconds"}
    )
    cpu_provisioning_rate = ma.fields.Float()
    memory_provisioning_rate = ma.fields.Float()


RATE = ma.validate.Range(min=0.001, max=1_000_000)


class OrganizationUpdateSchema(Schema):
    name = ma.fields.String(allow_none=True, validate=ma.validate.Length(1, 64))
    description = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=1024))
    default = ma.fields.Boolean(allow_none=True)
    resource_namespace = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=255))
    auto_off_threshold = Integer(
        allow_none=True,
        attribute="auto_off_threshold_ms",
        validate=ma.validate.Range(min=0, max=10 * 365 * 86400 * 1000),
        metadata={"description": "milliseconds"},
    )
    cpu_provisioning_rate = ma.fields.Float(allow_none=True, allow_nan=False, validate=RATE)
    memory_provisioning_rate = ma.fields.Float(allow_none=True, allow_nan=False, validate=RATE)


class OrganizationCreateSchema(OrganizationUpdateSchema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(1, 64))
    members = ma.fields.List(
        ma.fields.String(), load_default=list, metadata={"description": "User ids to add"}
    )


class MemberAddSchema(Schema):
    user_id = ma.fields.String(required=True)
    roles = ma.fields.List(ROLE, load_default=list)


class MemberRolesSchema(Schema):
    roles = ma.fields.List(ROLE, required=True)


def _visible(org_id):
    return organizations.get_visible(auth.current_user(), org_id)


def _user_id(user_id):
    return auth.current_user().id if user_id == "me" else user_id


@blp.route("", strict_slashes=False)
class Organizations(MethodView):
    @blp.login_required
    @blp.response(200, OrganizationSchema(many=True))
    def get(self):
        """List organizations, with their members"""
        return organizations.list_visible(auth.current_user())

    @blp.login_required
    @blp.arguments(OrganizationCreateSchema)
    @blp.error_responses(409)
    @blp.response(201, OrganizationSchema)
    def post(self, data):
        """Create an organization"""
        return organizations.create(auth.caller(), data)


@blp.route("/<string:org_id>")
class OrganizationById(MethodView):
    @blp.login_required
    @blp.error_responses(404)
    @blp.response(200, OrganizationSchema)
    def get(self, org_id):
        """Get an organization (`default` for the default one)"""
        return organizations.detailed(_visible(org_id))

    @blp.login_required
    @blp.arguments(OrganizationUpdateSchema)
    @blp.error_responses(404, 409)
    @blp.response(200, OrganizationSchema)
    def patch(self, data, org_id):
        """Update an organization; null or absent fields are unchanged"""
        return organizations.update(auth.caller(), _visible(org_id), data)

    @blp.login_required
    @blp.error_responses(404, 409)
    @blp.response(204)
    def delete(self, org_id):
        """Delete an organization"""
        organizations.delete(auth.caller(), _visible(org_id))


@blp.route("/<string:org_id>/members")
class Members(MethodView):
    @blp.login_required
    @blp.error_responses(404)
    @blp.response(200, OrganizationMemberSchema(many=True))
    def get(self, org_id):
        """List an organization's members"""
        return organizations.members(_visible(org_id))

    @blp.login_required
    @blp.arguments(MemberAddSchema)
    @blp.error_responses(404, 409)
    @blp.response(201, OrganizationMemberSchema)
    def post(self, data, org_id):
        """Add a member"""
        return organizations.add(
            auth.caller(), _visible(org_id), _user_id(data["user_id"]), data["roles"]
        )


@blp.route("/<string:org_id>/members/<string:user_id>")
class MemberById(MethodView):
    @blp.login_required
    @blp.arguments(MemberRolesSchema)
    @blp.error_responses(404)
    @blp.response(200, OrganizationMemberSchema)
    def patch(self, data, org_id, user_id):
        """Change a member's organization roles"""
        return organizations.set_roles(
            auth.caller(), _visible(org_id), _user_id(user_id), data["roles"]
        )

    @blp.login_required
    @blp.error_responses(404, 409)
    @blp.response(204)
    def delete(self, org_id, user_id):
        """Remove a member"""
        organizations.remove(auth.caller(), _visible(org_id), _user_id(user_id))
