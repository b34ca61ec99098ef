"""v0 registries: list, get, edit and delete (created through image import's new_registry)."""

from flask import current_app
from flask.views import MethodView

from app import auth
from app.api.smorest import Blueprint
from app.api.v0 import images_schemas as schemas
from app.services import registries

blp = Blueprint(
    "v0_registries",
    __name__,
    url_prefix="/api/v0/registries",
    tag="Registries",
    description="Container registries images are imported from; credentials are write-only",
)


@blp.route("/", strict_slashes=False)
class Registries(MethodView):
    @blp.login_required
    @blp.arguments(schemas.RegistryQueryArgsSchema, location="query")
    @blp.response(200, schemas.RegistrySchema(many=True))
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, args):
        """List the registries you can see (`?org=` narrows to one organization)"""
        return registries.list_visible(auth.current_user(), args.get("org"))


@blp.route("/<string:registry_id>")
class RegistryById(MethodView):
    @blp.login_required
    @blp.response(200, schemas.RegistrySchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, registry_id):
        """Get a registry"""
        return registries.get_visible(auth.current_user(), registry_id)

    @blp.login_required
    @blp.arguments(schemas.RegistryUpdateSchema)
    @blp.response(200, schemas.RegistrySchema)
    @blp.alt_response(400, response="BAD_REQUEST")
    @blp.alt_response(403, response="FORBIDDEN")
    @blp.alt_response(404, response="NOT_FOUND")
    def patch(self, body, registry_id):
        """Edit a registry's name, host or credentials (a new host or credentials are checked)"""
        access = registries.access(current_app.config)
        return registries.update(auth.caller(), access, registry_id, body)

    @blp.login_required
    @blp.response(204)
    @blp.alt_response(403, response="FORBIDDEN")
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def delete(self, registry_id):
        """Delete a registry no image uses"""
        registries.delete(auth.caller(), registry_id)
