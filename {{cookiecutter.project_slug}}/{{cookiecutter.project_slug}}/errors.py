"""Error pages: one template for every error a visitor can meet, never a stack trace.

Flask hands unhandled exceptions to this handler as a generic InternalServerError, and a bad
CSRF token (400), a too large body (413) and a rate limit (429) are HTTP exceptions too.
"""

from flask import Blueprint, render_template
from werkzeug.exceptions import HTTPException

bp = Blueprint("errors", __name__)


@bp.app_errorhandler(HTTPException)
def http_error(error):
    return render_template("error.html", error=error), error.code
