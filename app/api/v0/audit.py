"""v0 audit log: GET /api/v0/audit, as pages or as an NDJSON export."""

from flask import Response, stream_with_context
from flask.views import MethodView

from app import auth
from app.api.smorest import Blueprint
from app.api.v0.schemas import AuditEntrySchema, AuditQueryArgsSchema
from app.services import audit_query

blp = Blueprint("v0_audit", __name__, url_prefix="/api/v0/audit", description="Audit log")

NDJSON = "application/x-ndjson"


@blp.route("")
class AuditLog(MethodView):
    @blp.login_required
    @blp.arguments(AuditQueryArgsSchema, location="query", as_kwargs=True)
    @blp.response(200, AuditEntrySchema(many=True))
    @blp.alt_response(400, response="DEFAULT_ERROR")
    @blp.alt_response(403, response="DEFAULT_ERROR")
    @blp.alt_response(
        200,
        schema=AuditEntrySchema,
        content_type=NDJSON,
        description="A page, or with `format=ndjson` every match, one entry per line",
    )
    def get(self, limit, offset, output_format, **filters):
        """List audit log entries, newest first
        ---
        `format=ndjson` streams every matching entry (limit and offset do not apply).
        """
        viewer = auth.current_user()
        query = audit_query.Filters(**filters)
        if output_format == "ndjson":
            lines = audit_query.export(viewer, query)
            return Response(stream_with_context(lines), mimetype=NDJSON)
        return audit_query.page(viewer, query, limit=limit, offset=offset)
