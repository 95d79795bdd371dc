"""/api/docs: Swagger UI for the OpenAPI document, served from this site alone.

The Swagger UI files come from the flask-swagger-ui package (Apache-2.0, SmartBear); only its
files are used, not its page, whose inline script a strict Content-Security-Policy blocks.
Our page loads a script file of its own that starts Swagger UI.
"""

import base64
import functools
import re
from importlib.resources import files
from urllib.parse import unquote

from flask import Blueprint, abort, render_template, send_from_directory, url_for

SWAGGER_UI = files("flask_swagger_ui") / "dist"
# url(data:image/png;base64,...) or url("data:image/svg+xml;charset=utf-8,<svg ...>")
DATA_URL = re.compile(
    r'url\((?P<quote>"?)data:(?P<type>[\w+/.-]+)(?P<params>[^,]*),(?P<data>.*?)(?P=quote)\)'
)

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


@bp.get("/swagger-ui/swagger-ui.css")
def stylesheet():
    css, _ = swagger_ui_css()
    return css, {"Content-Type": "text/css; charset=utf-8", "Cache-Control": "max-age=86400"}


@bp.get("/swagger-ui/icons/<int:number>")
def icon(number):
    _, icons = swagger_ui_css()
    if number >= len(icons):
        abort(404)
    mimetype, body = icons[number]
    return body, {"Content-Type": mimetype, "Cache-Control": "max-age=86400"}


@bp.get("/swagger-ui/<path:filename>")
def swagger_ui(filename):
    return send_from_directory(SWAGGER_UI, filename, max_age=86400)


@functools.cache
def swagger_ui_css():
    """Swagger UI's stylesheet with its icons moved from data: URLs to URLs of this site.

    The site's policy allows images from this site only (img-src falls back to 'self'), so
    the icons embedded in the stylesheet as data: URLs would be refused.
    """
    icons = []

    def move(match):
        data = match["data"].replace('\\"', '"')
        if match["params"].endswith(";base64"):
            body = base64.b64decode(data)
        else:
            body = unquote(data).encode()
        icons.append((match["type"], body))
        return f"url({url_for('api_docs.icon', number=len(icons) - 1)})"

    css = DATA_URL.sub(move, (SWAGGER_UI / "swagger-ui.css").read_text(encoding="utf-8"))
    return css, icons
