"""The JSON API under /api: token authentication, users, an OpenAPI document and its docs page.

flask-smorest builds the OpenAPI document from the marshmallow schemas and decorators of the
views, and validates requests against the same schemas, so the document cannot drift from the
code. Settings below are defaults: the app's config (or the environment through config.py)
may set any of them first.
"""

from datetime import timedelta

from flask import Flask, Response, request
from flask_smorest import Api

from .errors import ProblemApi, under_api
from .models import revoke_api_tokens

__all__ = ["api", "init_app", "revoke_api_tokens"]

DEFAULTS = {
    "API_TITLE": None,  # the app's name, filled in by init_app
    "API_VERSION": "1",
    "OPENAPI_VERSION": "3.1.0",
    "OPENAPI_URL_PREFIX": "/api",
    "OPENAPI_JSON_PATH": "openapi.json",  # so the document lives at /api/openapi.json
    "API_TOKEN_LIFETIME": timedelta(days=30),
    "API_PAGE_SIZE_MAX": 100,
}

api: Api = ProblemApi()


def init_app(app: Flask) -> None:
    """Bind the API to the app. Call it after the other blueprints: its error handler answers
    with problem details under /api and hands every other error to the HTML error pages."""
    from . import auth, docs, errors, tokens, users

    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)
    app.config["API_TITLE"] = app.config["API_TITLE"] or f"{app.config['APP_NAME']} API"
    api.init_app(app)
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "description": auth.SCHEME_HELP}
    )
    api.register_blueprint(tokens.bp)
    api.register_blueprint(users.bp)
    app.register_blueprint(docs.bp)
    errors.register_handlers(app)
    app.after_request(answer_options)


def answer_options(response: Response) -> Response:
    """Flask answers OPTIONS itself: 200 with an empty text/html body. Under /api, a 204 with
    the Allow header only."""
    if request.method == "OPTIONS" and under_api() and response.status_code == 200:
        response.status_code = 204
        response.set_data(b"")
        del response.headers["Content-Type"]
    return response
