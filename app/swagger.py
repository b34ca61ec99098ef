"""Swagger UI at /swagger for both API documents, its assets served from the installed bundle."""

from __future__ import annotations

from flask import Blueprint, Response, abort, send_from_directory
from swagger_ui_bundle import swagger_ui_path

ASSETS = (
    "swagger-ui.css",
    "index.css",
    "swagger-ui-bundle.js",
    "swagger-ui-standalone-preset.js",
    "favicon-32x32.png",
    "favicon-16x16.png",
)

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="UTF-8">
  <title>pycoderd API</title>
  <link rel="stylesheet" href="/swagger/assets/swagger-ui.css">
  <link rel="stylesheet" href="/swagger/assets/index.css">
  <link rel="icon" type="image/png" href="/swagger/assets/favicon-32x32.png" sizes="32x32">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/swagger/assets/swagger-ui-bundle.js"></script>
  <script src="/swagger/assets/swagger-ui-standalone-preset.js"></script>
  <script src="/swagger/assets/initializer.js"></script>
</body>
</html>
"""

# Kept in a file of its own so the page needs no inline script.
INITIALIZER = r"""window.onload = function () {
  window.ui = SwaggerUIBundle({
    urls: [
      {url: "/api/v2/openapi.json", name: "v2 (general)"},
      {url: "/api/v0/openapi.json", name: "v0 (classic)"}
    ],
    dom_id: "#swagger-ui",
    deepLinking: true,
    persistAuthorization: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: "StandaloneLayout",
    requestInterceptor: cookieToJar
  });
};

// A browser drops a Cookie header that a script sets, so the value "Authorize" was given for
// the cookie scheme goes to this origin's cookie jar instead, where the request picks it up.
function cookieToJar(request) {
  var cookie = request.headers && request.headers.Cookie;
  if (cookie) {
    cookie.split(/[;&]\s*/).forEach(function (pair) {
      if (pair.indexOf("coder_session_token=") === 0) {
        document.cookie = pair + "; path=/; SameSite=Strict";
      }
    });
    delete request.headers.Cookie;
  }
  return request;
}
"""

blueprint = Blueprint("swagger", __name__, url_prefix="/swagger")


@blueprint.get("/", strict_slashes=False)
def page():
    return Response(PAGE, mimetype="text/html")


@blueprint.get("/assets/initializer.js")
def initializer():
    return Response(INITIALIZER, mimetype="text/javascript")


@blueprint.get("/assets/<path:name>")
def asset(name):
    if name not in ASSETS:
        abort(404)
    return send_from_directory(str(swagger_ui_path), name, max_age=3600)


def init_app(app) -> None:
    if app.config["SETTINGS"]["swagger.enable"]:
        app.register_blueprint(blueprint)
