"""/api/docs: Swagger UI for the OpenAPI document, served from this site alone.

The Swagger UI files come from the flask-swagger-ui package (Apache-2.0, SmartBear); only its
files are used, not its page, whose inline script a strict Content-Security-Policy blocks.
Our page lists the operations itself and loads Swagger UI when asked (a button, or a link
to one of its operations): its bundle takes a phone's CPU seconds to start, which a reader
who only wants the list should not wait for. Of Swagger UI's files only
the two the page needs are served: the bundle and the stylesheet. Their URLs carry a hash of
the package's file (assets.py), so browsers keep them a year, and they are sent gzipped (the
bundle: 1.6 MB, 440 kB gzipped), compressed once per worker, with or without nginx in front.
"""

import base64
import functools
import gzip
import re
from importlib.resources import files
from pathlib import Path
from urllib.parse import unquote

from flask import Blueprint, Response, abort, render_template, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

SWAGGER_UI = Path(str(files("flask_swagger_ui") / "dist"))
BUNDLE = SWAGGER_UI / "swagger-ui-bundle.js"
STYLESHEET = SWAGGER_UI / "swagger-ui.css"
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
# Swagger UI writes HTML and loads its bundle from strings: its page goes without Trusted Types.
bp.record_once(lambda state: state.app.extensions["trusted_types_exempt"].add("api_docs.index"))
# The files behind the URLs below, whose hash goes into those URLs (assets.py).
bp.record_once(
    lambda state: state.app.extensions["fingerprinted"].update(
        {
            "api_docs.bundle": lambda values: BUNDLE,
            "api_docs.stylesheet": lambda values: STYLESHEET,
            "api_docs.icon": lambda values: STYLESHEET,  # the icons come from the stylesheet
        }
    )
)


@bp.get("")
def index() -> str:
    from . import api  # the package's Api, whose document lists the operations

    operations = [
        (method.upper(), path, operation.get("summary", ""))
        for path, item in api.spec.to_dict()["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict)  # not the path's shared "parameters"
    ]
    return render_template(
        "api/docs.html", spec_url=url_for("api-docs.openapi_json"), operations=operations
    )


@bp.get("/swagger-ui/swagger-ui.css")
def stylesheet() -> WerkzeugResponse:
    return send_text("css", "text/css")


@bp.get("/swagger-ui/swagger-ui-bundle.js")
def bundle() -> WerkzeugResponse:
    return send_text("js", "text/javascript")


def send_text(kind: str, mimetype: str) -> WerkzeugResponse:
    """Swagger UI's stylesheet or bundle, gzipped when the browser accepts it."""
    gzipped = "gzip" in request.accept_encodings  # type: ignore[comparison-overlap]  # by name
    response = Response(swagger_ui_text(kind, gzipped), mimetype=mimetype)
    if gzipped:
        response.headers["Content-Encoding"] = "gzip"
    return revalidated(response)


@functools.cache
def swagger_ui_text(kind: str, gzipped: bool) -> bytes:
    """Made once per worker: the bundle takes about 50 ms to compress."""
    body = swagger_ui_css()[0].encode() if kind == "css" else BUNDLE.read_bytes()
    return gzip.compress(body, compresslevel=6, mtime=0) if gzipped else body


def revalidated(response: Response) -> WerkzeugResponse:
    """Without the hash in its URL, a browser asks again each time (a 304 if unchanged)."""
    response.vary.add("Accept-Encoding")
    response.cache_control.no_cache = True
    response.add_etag()
    return response.make_conditional(request)


@bp.get("/swagger-ui/icons/<int:number>")
def icon(number: int) -> WerkzeugResponse:
    _, icons = swagger_ui_css()
    if number >= len(icons):
        abort(404)
    mimetype, body = icons[number]
    return revalidated(Response(body, mimetype=mimetype))


@functools.cache
def swagger_ui_css() -> tuple[str, list[tuple[str, bytes]]]:
    """Swagger UI's stylesheet with its icons moved from data: URLs to URLs of this site.

    The site's policy allows images from this site only (img-src falls back to 'self'), so
    the icons embedded in the stylesheet as data: URLs would be refused.
    """
    icons: list[tuple[str, bytes]] = []

    def move(match: re.Match[str]) -> str:
        data = match["data"].replace('\\"', '"')
        if match["params"].endswith(";base64"):
            body = base64.b64decode(data)
        else:
            body = unquote(data).encode()
        icons.append((match["type"], body))
        return f"url({url_for('api_docs.icon', number=len(icons) - 1)})"

    css = DATA_URL.sub(move, STYLESHEET.read_text(encoding="utf-8"))
    return css, icons
