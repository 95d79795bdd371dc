"""Error pages: one template for every error a visitor can meet, never a stack trace.

Flask hands unhandled exceptions to this handler as a generic InternalServerError, and a bad
CSRF token (400), a too large body (413) and a rate limit (429) are HTTP exceptions too.
A database that cannot be reached is a passing outage (503), not a bug in the app (500).
"""

from flask import Blueprint, current_app, render_template
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, ServiceUnavailable

bp = Blueprint("errors", __name__)


@bp.app_errorhandler(HTTPException)
def http_error(error):
    return render_template("error.html", error=error), error.code


@bp.app_errorhandler(OperationalError)
def database_unavailable(error):
    current_app.logger.warning("database unavailable: %s", error.orig)
    return render_template("error.html", error=ServiceUnavailable()), 503
