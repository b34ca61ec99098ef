"""v0 images and their tags: import, list, edit, deprecate, refresh from the registry."""

from flask import current_app
from flask.views import MethodView

from app import auth
from app.api.smorest import Blueprint
from app.api.v0 import images_schemas as schemas
from app.services import images, registries

blp = Blueprint(
    "v0_images",
    __name__,
    url_prefix="/api/v0/images",
    tag="Images",
    description="Container images imported from registries, and their tags",
)


def _access():
    return registries.access(current_app.config)


@blp.route("/", strict_slashes=False)
class Images(MethodView):
    @blp.login_required
    @blp.arguments(schemas.ImageQueryArgsSchema, location="query")
    @blp.response(200, schemas.ImageSchema(many=True))
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, args):
        """List the images you can see (`?org=` narrows to one organization)"""
        return images.list_visible(auth.current_user(), args.get("org"), args["workspaces"])

    @blp.login_required
    @blp.arguments(schemas.ImageCreateSchema)
    @blp.response(201, schemas.ImageSchema)
    @blp.alt_response(400, response="BAD_REQUEST")
    @blp.alt_response(403, response="FORBIDDEN")
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, body):
        """Import an image from a registry (contacted to read the tag's digest)"""
        return images.import_image(auth.caller(), _access(), body)


@blp.route("/<string:image_id>")
class ImageById(MethodView):
    @blp.login_required
    @blp.arguments(schemas.ImageGetArgsSchema, location="query")
    @blp.response(200, schemas.ImageSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, args, image_id):
        """Get an image and the workspaces built from it"""
        return images.get_visible(auth.current_user(), image_id, args["workspaces"])

    @blp.login_required
    @blp.arguments(schemas.ImageUpdateSchema)
    @blp.response(200, schemas.ImageSchema)
    @blp.alt_response(400, response="BAD_REQUEST")
    @blp.alt_response(403, response="FORBIDDEN")
    @blp.alt_response(404, response="NOT_FOUND")
    def patch(self, body, image_id):
        """Edit an image's baseline resources, description, default tag or deprecation"""
        return images.update(auth.caller(), image_id, body)

    @blp.login_required
    @blp.arguments(schemas.RefreshSchema)
    @blp.response(200, schemas.ImageSchema)
    @blp.alt_response(400, response="BAD_REQUEST")
    @blp.alt_response(403, response="FORBIDDEN")
    @blp.alt_response(404, response="NOT_FOUND")
    def post(self, _body, image_id):
        """Refresh every tag's digest from the registry"""
        return images.refresh(auth.caller(), _access(), image_id)

    @blp.login_required
    @blp.response(204)
    @blp.alt_response(403, response="FORBIDDEN")
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def delete(self, image_id):
        """Delete an image no workspace uses"""
        images.delete(auth.caller(), image_id)


@blp.route("/<string:image_id>/tags")
class ImageTags(MethodView):
    @blp.login_required
    @blp.response(200, schemas.ImageTagSchema(many=True))
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, image_id):
        """List an image's tags"""
        return images.list_tags(auth.current_user(), image_id)

    @blp.login_required
    @blp.arguments(schemas.TagCreateSchema)
    @blp.response(201, schemas.ImageTagSchema)
    @blp.alt_response(400, response="BAD_REQUEST")
    @blp.alt_response(403, response="FORBIDDEN")
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, body, image_id):
        """Add a tag of the image's repository (read from the registry)"""
        return images.add_tag(auth.caller(), _access(), image_id, body["tag"])


@blp.route("/<string:image_id>/tags/update")
class ImageTagsUpdate(MethodView):
    @blp.login_required
    @blp.arguments(schemas.RefreshSchema)
    @blp.response(200, schemas.ImageSchema)
    @blp.alt_response(400, response="BAD_REQUEST")
    @blp.alt_response(403, response="FORBIDDEN")
    @blp.alt_response(404, response="NOT_FOUND")
    def post(self, _body, image_id):
        """Refresh every tag's digest from the registry"""
        return images.refresh(auth.caller(), _access(), image_id)


@blp.route("/<string:image_id>/tags/<string:tag>")
class ImageTagByName(MethodView):
    @blp.login_required
    @blp.response(200, schemas.ImageTagSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, image_id, tag):
        """Get a tag by name, with the workspaces built from it"""
        return images.get_tag(auth.current_user(), image_id, tag)

    @blp.login_required
    @blp.response(204)
    @blp.alt_response(403, response="FORBIDDEN")
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def delete(self, image_id, tag):
        """Remove a tag (never the default tag)"""
        images.delete_tag(auth.caller(), image_id, tag)
