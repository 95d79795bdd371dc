"""Error pages: one template for every error a visitor can meet, never a stack trace.

Flask hands unhandled exceptions to this handler as a generic InternalServerError, and a bad
CSRF token (400), a too large body (413) and a rate limit (429) are HTTP exceptions too.
A database that cannot be reached is a passing outage (503), not a bug in the app (500).
"""

from flask import Blueprint, current_app, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import BadRequest, HTTPException, ServiceUnavailable

bp = Blueprint("errors", __name__)


@bp.app_errorhandler(HTTPException)
def http_error(error):
    return render_template("error.html", error=error), error.code


@bp.app_errorhandler(CSRFError)
def csrf_error(error):
    if current_app.config["SESSION_COOKIE_SECURE"] and not request.is_secure:
        # The session cookie is Secure, so over plain HTTP a browser never sends it back and
        # no form can pass its CSRF check: say what is really wrong.
        error = BadRequest(
            "This site needs HTTPS: its session cookie is only sent over secure connections, "
            f"so forms cannot work over plain HTTP. Open https://{request.host}/ instead."
        )
    return render_template("error.html", error=error), 400


@bp.app_errorhandler(OperationalError)
def database_unavailable(error):
    current_app.logger.warning("database unavailable: %s", error.orig)
    return render_template("error.html", error=ServiceUnavailable()), 503
