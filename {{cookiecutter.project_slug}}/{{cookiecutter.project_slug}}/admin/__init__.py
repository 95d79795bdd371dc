"""The admin area under /admin: find accounts, see their state, resend a verification mail,
disable and re-enable them, end their sessions, delete them; and the audit trail.

Only administrators (`flask set-admin NAME`) reach it: everyone else gets a 404 for every URL
under /admin, before any other check, so the area tells nothing about itself or the accounts.
routes.py holds the views, forms.py their forms, models.py and audit.py the trail.
Pages of our own, not Flask-Admin: the README says why (measured).
"""

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask.sansio.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from flask_login import current_user

from ..auth.factors import second_factors
from ..auth.factors.fresh import ask_again, is_fresh
from ..extensions import csrf

bp = Blueprint("admin", __name__, url_prefix="/admin")

DEFAULTS = {
    "ADMIN_RATE_LIMIT": "30 per minute",  # the actions (POSTs) of one client, all together
    "ADMIN_PAGE_SIZE": 25,
}


@bp.record_once
def set_defaults(state: BlueprintSetupState) -> None:
    for key, value in DEFAULTS.items():
        state.app.config.setdefault(key, value)


# Exempt from the site-wide CSRF check, which runs before this blueprint's hooks, so that a
# non-administrator's POST gets the same 404 as anything else here; checked just below.
csrf.exempt(bp)


@bp.before_request
def administrators_only() -> ResponseReturnValue | None:
    if not (current_user.is_authenticated and current_user.is_admin):
        abort(404)
    if current_app.config.get("WTF_CSRF_ENABLED", True):
        csrf.protect()  # a no-op for GET and HEAD
    if current_app.config["ADMIN_REQUIRES_SECOND_FACTOR"] and not second_factors(current_user):
        flash("Add a passkey or an authenticator app to your account to use the admin area.")
        return redirect(url_for("auth.account"))
    if request.method == "POST" and not is_fresh():  # every action: a recent check
        return ask_again()  # type: ignore[no-any-return]
    return None


from . import routes  # noqa: E402, F401  (the views register themselves on bp)
