"""/api/docs: Swagger UI for the OpenAPI document, served from this site alone.

The Swagger UI files come from the flask-swagger-ui package (Apache-2.0, SmartBear); only its
files are used, not its page, whose inline script a strict Content-Security-Policy blocks.
Our page loads a script file of its own that starts Swagger UI.
"""

from importlib.resources import files

from flask import Blueprint, render_template, send_from_directory, url_for

SWAGGER_UI = files("flask_swagger_ui") / "dist"

bp = Blueprint(
    "api_docs",
    __name__,
    url_prefix="/api/docs",
    template_folder="templates",
    static_folder="static",
)


@bp.get("")
def index():
    return render_template("api/docs.html", spec_url=url_for("api-docs.openapi_json"))


@bp.get("/swagger-ui/<path:filename>")
def swagger_ui(filename):
    return send_from_directory(SWAGGER_UI, filename, max_age=86400)
