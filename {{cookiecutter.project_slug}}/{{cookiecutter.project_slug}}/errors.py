"""Error pages: one template for every error a visitor can meet, never a stack trace.

Flask hands unhandled exceptions to this handler as a generic InternalServerError, and a bad
CSRF token (400), a too large body (413) and a rate limit (429) are HTTP exceptions too.
A database that cannot be reached is a passing outage (503), not a bug in the app (500).
"""

import math
import time

from flask import Blueprint, current_app, render_template, request
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import BadRequest, HTTPException, SecurityError, ServiceUnavailable

from .extensions import db, limiter

bp = Blueprint("errors", __name__)


@bp.app_errorhandler(HTTPException)
def http_error(error: HTTPException) -> ResponseReturnValue:
    return render_template("error.html", error=error), error.code or 500


@bp.app_errorhandler(SecurityError)
def untrusted_host(error: SecurityError) -> ResponseReturnValue:
    """A host not in TRUSTED_HOSTS (config.py): Flask builds no URLs for it, so no page."""
    return "400 Bad Request: unknown host\n", 400, {"Content-Type": "text/plain; charset=utf-8"}


@bp.app_errorhandler(429)
def too_many_requests(error: HTTPException) -> ResponseReturnValue:
    """Say when to come back, in words; Flask-Limiter adds the Retry-After header."""
    limit = limiter.current_limit
    seconds = int(limit.reset_at - time.time()) if limit else 60  # as in Retry-After
    message = f"Too many attempts. Please try again in {in_words(max(seconds, 1))}."
    return render_template("error.html", error=error, message=message), 429


def in_words(seconds: int) -> str:
    """40 -> "40 seconds", 61 -> "2 minutes", 3600 -> "1 hour"."""
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = math.ceil(seconds / size) if unit == "minute" else round(seconds / size)
            break
    else:
        unit, count = "second", seconds
    return f"{count} {unit}{'' if count == 1 else 's'}"


@bp.app_errorhandler(CSRFError)
def csrf_error(error: HTTPException) -> ResponseReturnValue:
    if current_app.config["SESSION_COOKIE_SECURE"] and not request.is_secure:
        # The session cookie is Secure, so over plain HTTP a browser never sends it back and
        # no form can pass its CSRF check: say what is really wrong.
        error = BadRequest(
            "This site needs HTTPS: its session cookie is only sent over secure connections, "
            f"so forms cannot work over plain HTTP. Open https://{request.host}/ instead."
        )
    return render_template("error.html", error=error), 400


@bp.app_errorhandler(OperationalError)
def database_unavailable(error: OperationalError) -> ResponseReturnValue:
    current_app.logger.warning("database unavailable: %s", error.orig)
    return render_template("error.html", error=ServiceUnavailable()), 503


def end_database_session(error: BaseException | None = None) -> None:
    """Close the request's database session. A connection lost after the request's last query
    is the same passing outage: a warning, not an error escaping to Gunicorn as a bare 500.
    Registered after Flask-SQLAlchemy, so it runs before Flask-SQLAlchemy's own teardown."""
    try:
        db.session.remove()
    except OperationalError as lost:
        current_app.logger.warning("database connection lost: %s", lost.orig)
        db.session.registry.clear()
