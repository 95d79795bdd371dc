"""Every error under /api is a problem details object (RFC 9457, application/problem+json).

One handler covers them all: aborts in views, validation errors (422), a bad CSRF token
(400), a body over MAX_CONTENT_LENGTH (413), rate limits (429), unknown URLs and methods
(404, 405), a database outage (503) and uncaught exceptions (500). Outside /api it hands
the error to the site's HTML error pages.
"""

import functools
import http
import json
from collections.abc import Callable
from typing import Any, NoReturn

import marshmallow as ma
from flask import Flask, Request, current_app, request
from flask_smorest import Api, Blueprint
from flask_smorest.pagination import PaginationMetadataSchema
from flask_smorest.utils import prepare_response
from sqlalchemy.exc import OperationalError
from webargs.flaskparser import FlaskParser, abort, is_json_request
from werkzeug.exceptions import HTTPException, ServiceUnavailable
from werkzeug.wrappers import Response as WerkzeugResponse

PROBLEM_TYPE = "application/problem+json"
# Problems with a meaning of their own (RFC 9457, section 4): a client branches on `type`, a
# relative URI that stays the same whatever the wording, and `title` names the problem, not
# just the status. `abort(409, problem="username-taken", ...)` gives one; any other error is
# `about:blank` with its status phrase as the title, as the RFC says.
PROBLEMS = {
    "username-taken": "Username taken",
    "administrators-only": "Administrators only",
    "no-such-user": "No such user",
    "no-such-token": "No such token",
    "account-disabled": "Account disabled",
    "invalid-credentials": "Invalid username or password",
    "token-required": "Valid token required",
}
PROBLEM_TYPES = ["about:blank", *(f"/api/problems/{name}" for name in PROBLEMS)]
MAX_ID = 2**31 - 1  # ids in URLs beyond what an INTEGER column holds are a 404, not a 500

View = Callable[..., Any]
ErrorHandler = Callable[[Any], Any]


class ProblemSchema(ma.Schema):
    type = ma.fields.String(
        required=True,
        validate=ma.validate.OneOf(PROBLEM_TYPES),
        metadata={"description": "A URI naming the kind of problem (a client branches on it)"},
    )
    title = ma.fields.String(
        required=True, metadata={"description": "The kind of problem, or the status, in words"}
    )
    status = ma.fields.Integer(required=True, metadata={"description": "The HTTP status code"})
    detail = ma.fields.String(metadata={"description": "What went wrong this time"})
    errors = ma.fields.Dict(
        metadata={"description": "Invalid fields, by location (json, query, ...) and name"}
    )


class ProblemApi(Api):
    """flask-smorest's Api, documenting errors as problem details.

    Every error status an operation can answer is listed on it (no catch-all `default`), so
    a client, and schemathesis, knows which ones to expect.
    """

    ERROR_SCHEMA = ProblemSchema
    DEFAULT_ERROR_RESPONSE_NAME = None

    def _register_error_handlers(self) -> None:
        """None of flask-smorest's own: register_handlers() answers under /api, and it would
        replace the pages' handler for every other URL."""

    def _register_pagination_header(self) -> None:
        """X-Pagination holds a JSON object: say so with `content`. flask-smorest gives it a
        `schema`, which means a header in OpenAPI's `simple` style (`total,1,page,1`)."""
        self.spec.components.header(
            "PAGINATION",
            {
                "description": "Pagination metadata, as JSON",
                "content": {"application/json": {"schema": PaginationMetadataSchema}},
            },
            lazy=True,
        )

    def _register_responses(self) -> None:
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if status >= 400:
                response["schema"] = ProblemSchema
            prepare_response(response, self.spec, PROBLEM_TYPE)
            self.spec.components.response(status.name, response, lazy=True)


def problem(error: HTTPException, name: str | None = None) -> WerkzeugResponse:
    """The problem details response for an HTTPException; `name` is one of PROBLEMS (or
    comes in the error's data, from `abort(..., problem=name)`)."""
    data = getattr(error, "data", None) or {}  # flask-smorest's abort() and webargs put it here
    name = name or data.get("problem")
    body: dict[str, Any] = {"type": "about:blank", "title": error.name, "status": error.code}
    if name:
        body |= {"type": f"/api/problems/{name}", "title": PROBLEMS[name]}
    if data.get("message") or error.description:
        body["detail"] = data.get("message") or error.description
    errors = data.get("errors") or data.get("messages")  # ours, or webargs' validation errors
    if errors:
        body["errors"] = errors
    response = error.get_response()  # keeps headers such as Allow and Retry-After
    response.data = current_app.json.dumps(body)
    response.content_type = PROBLEM_TYPE
    for name, value in (data.get("headers") or {}).items():
        response.headers[name] = value
    return response


def fail(error: HTTPException, name: str) -> NoReturn:
    """Raise `error` as the problem `name` of PROBLEMS (the handler calls problem())."""
    error.data = {"problem": name}  # type: ignore[attr-defined]  # as flask-smorest's abort()
    raise error


def under_api() -> bool:
    return request.path == "/api" or request.path.startswith("/api/")


def register_handlers(app: Flask) -> None:
    """Under /api every error is a problem details object; elsewhere the pages answer.

    Wraps each app-wide handler registered so far (the pages' HTTPException, 429, CSRF and
    database ones): a page handler for one more code can never answer under /api. Must run
    after the pages registered theirs.
    """
    for handlers in app.error_handler_spec[None].values():
        for kind, page_handler in list(handlers.items()):
            handlers[kind] = problem_under_api(page_handler)


def problem_under_api(page_handler: ErrorHandler) -> ErrorHandler:
    @functools.wraps(page_handler)
    def handler(error: HTTPException | OperationalError) -> Any:
        if not under_api():
            return page_handler(error)
        if isinstance(error, OperationalError):
            current_app.logger.warning("database unavailable: %s", error.orig)
            return problem(ServiceUnavailable())
        return problem(error)  # Flask has logged an uncaught exception's traceback already

    return handler


class Parser(FlaskParser):
    """webargs' parser, refusing what the document does not allow.

    An unknown query parameter is a 422, as an unknown JSON field is: the document lists them
    all. Every body that is not JSON Python can load is a 400: webargs catches only
    JSONDecodeError, so a body nested too deep (RecursionError) or a number longer than
    Python converts (ValueError, over 4300 digits) would be a 500. A key twice in one object
    is a 400 too: a proxy or log reading the first would see another request than the app,
    which would read the last.
    """

    DEFAULT_UNKNOWN_BY_LOCATION = {**FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION, "query": ma.RAISE}

    def _raw_load_json(self, req: Request) -> Any:
        if not is_json_request(req):
            return ma.missing
        return json.loads(req.get_data(cache=True), object_pairs_hook=unique_keys)

    def load_json(self, req: Request, schema: ma.Schema) -> Any:
        try:
            return super().load_json(req, schema)
        except (RecursionError, ValueError) as error:
            abort(400, exc=error, messages={"json": ["Invalid JSON body."]})


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object as a dict, refusing a key it holds twice."""
    found = dict(pairs)
    if len(found) != len(pairs):
        raise ValueError("a key appears twice in one object")
    return found


class ApiBlueprint(Blueprint):
    """A flask-smorest Blueprint that lists the error responses of its operations."""

    ARGUMENTS_PARSER = Parser()
    PAGINATION_ARGUMENTS_PARSER = Parser()

    def problems(self, *statuses: int) -> Callable[[View], View]:
        """Decorator documenting the error statuses an operation can answer."""

        def decorator(view: View) -> View:
            for status in statuses:
                view = self.alt_response(status, http.HTTPStatus(status).name)(view)
            return view

        return decorator
