"""The admin area's pages: accounts, one account and its actions, the audit trail."""

from datetime import UTC, datetime

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import Select, false, or_, select
from werkzeug.wrappers import Response as WerkzeugResponse

from ..auth import email, guesses
from ..extensions import db, limiter
from ..htmx import page_or_part
from ..models import User
from . import audit, bp
from .forms import ActionForm, DeleteForm, SearchForm
from .models import AuditEvent

MAX_PAGE = 100_000  # a larger ?page= is a 404, not an OFFSET the database refuses

# One budget of actions per client, shared by every button of the area.
actions_limit = limiter.shared_limit(
    lambda: current_app.config["ADMIN_RATE_LIMIT"], scope="admin-actions", methods=["POST"]
)


def page_of(query: Select[tuple[User]]) -> Pagination:
    """One page of a query, from ?page= (1 by default; out of range: 404)."""
    page = request.args.get("page", 1, type=int)
    if not 1 <= page <= MAX_PAGE:
        abort(404)
    size = current_app.config["ADMIN_PAGE_SIZE"]
    return db.paginate(query, page=page, per_page=size, max_per_page=size)


def account(user_id: int) -> User:
    return db.get_or_404(User, user_id)


def back_to(user: User) -> WerkzeugResponse:
    return redirect(url_for("admin.user", user_id=user.id))


def not_on_yourself(user: User, what: str) -> bool:
    """Administrators lock themselves out on their own account page, not here."""
    if user.id == current_user.id:
        flash(f"You cannot {what} your own account here: use your account page.")
        return True
    return False


def confirmed(user: User, password: str | None) -> bool:
    """An action on another administrator needs the acting one's password again: a stolen
    session alone cannot lock out the other administrators. Wrong ones count as guesses."""
    if not user.is_admin:
        return True
    budget = guesses.account(current_user)
    if guesses.left(budget) and password and current_user.check_password(password):
        return True
    if password:
        guesses.wrong(budget)
    return False


def refused(user: User) -> WerkzeugResponse:
    flash(f"{user.username} is an administrator: type your own password to do that.")
    return back_to(user)


@bp.get("/")
def index() -> ResponseReturnValue:
    return redirect(url_for("admin.users"))


@bp.get("/users")
def users() -> ResponseReturnValue:
    form = SearchForm(request.args)
    query = select(User).order_by(User.id)
    if form.q.data and form.validate():
        text = form.q.data
        query = query.where(
            or_(
                User.username.contains(text, autoescape=True),
                User.email.contains(text, autoescape=True),
            )
        )
    elif form.q.data:
        query = query.where(false())  # a search the rules refuse finds no one
    return page_or_part("admin/users.html", "admin/_users.html", form=form, page=page_of(query))


@bp.get("/users/<int(max=2147483647):user_id>")
def user(user_id: int) -> ResponseReturnValue:
    user = account(user_id)
    events = db.session.scalars(
        select(AuditEvent).filter_by(target_id=user.id).order_by(AuditEvent.id.desc()).limit(10)
    ).all()
    return render_template(
        "admin/user.html",
        user=user,
        form=ActionForm(),
        events=events,
        # The API's tokens, when the project has the API (its model adds User.api_tokens).
        tokens=getattr(user, "api_tokens", None),
    )


@bp.post("/users/<int(max=2147483647):user_id>/disable")
@actions_limit
def disable(user_id: int) -> ResponseReturnValue:
    user = account(user_id)
    if not_on_yourself(user, "disable") or not user.is_active:
        return back_to(user)
    if not confirmed(user, request.form.get("current_password")):
        return refused(user)
    user.disabled_at = datetime.now(UTC)
    user.revoke_sessions()  # its sessions, remember-me cookies and API tokens end now
    audit.record("disable", user)
    db.session.commit()
    flash(f"{user.username} is disabled: every session and token of the account has ended.")
    return back_to(user)


@bp.post("/users/<int(max=2147483647):user_id>/enable")
@actions_limit
def enable(user_id: int) -> ResponseReturnValue:
    user = account(user_id)
    if user.is_active:
        return back_to(user)
    user.disabled_at = None
    audit.record("enable", user)
    db.session.commit()
    flash(f"{user.username} can log in again.")
    return back_to(user)


@bp.post("/users/<int(max=2147483647):user_id>/sessions")
@actions_limit
def end_sessions(user_id: int) -> ResponseReturnValue:
    user = account(user_id)
    if not_on_yourself(user, "end the sessions of"):
        return back_to(user)
    if not confirmed(user, request.form.get("current_password")):
        return refused(user)
    user.revoke_sessions()
    audit.record("end-sessions", user)
    db.session.commit()
    flash(f"Every session and token of {user.username} has ended.")
    return back_to(user)


@bp.post("/users/<int(max=2147483647):user_id>/factors")
@actions_limit
def reset_factors(user_id: int) -> ResponseReturnValue:
    """For a user who lost every factor (and proved who they are some other way)."""
    user = account(user_id)
    if not_on_yourself(user, "reset the sign-in factors of"):
        return back_to(user)
    user.passkeys.clear()
    user.totp = None
    user.recovery_codes.clear()
    user.revoke_sessions()
    audit.record("reset-factors", user)
    db.session.commit()
    if user.email:
        email.send_factor_changed(user, "Every factor", added=False, by_admin=True)
    flash(f"The passkeys, authenticator app and recovery codes of {user.username} are removed.")
    return back_to(user)


@bp.post("/users/<int(max=2147483647):user_id>/verification")
@actions_limit
def resend_verification(user_id: int) -> ResponseReturnValue:
    user = account(user_id)
    if user.email is None or user.email_verified:
        flash(f"{user.username} has no address waiting to be verified.")
        return back_to(user)
    sent = email.send_verification(user)  # within the mail limits of the address and client
    audit.record("resend-verification", user, detail="sent" if sent else "not sent")
    db.session.commit()
    flash(
        f"A new link went to {user.email}."
        if sent
        else "The mail could not be sent just now (a limit or the mail server)."
    )
    return back_to(user)


@bp.route("/users/<int(max=2147483647):user_id>/delete", methods=["GET", "POST"])
@actions_limit
def delete(user_id: int) -> ResponseReturnValue:
    user = account(user_id)
    if not_on_yourself(user, "delete"):
        return back_to(user)
    form = DeleteForm()
    if not user.is_admin:
        del form.current_password  # asked for only when deleting another administrator
    if form.validate_on_submit():
        if form.username.data != user.username:
            form.username.errors.append("That is not this account's username.")  # type: ignore[attr-defined]
        elif user.is_admin and not confirmed(user, form.current_password.data):
            form.current_password.errors.append("That is not your password.")  # type: ignore[attr-defined]
        else:
            audit.record("delete", user)
            db.session.delete(user)
            db.session.commit()
            flash(f"The account {user.username} is deleted.")
            return redirect(url_for("admin.users"))
    return render_template("admin/delete.html", user=user, form=form)


@bp.get("/audit")
def trail() -> ResponseReturnValue:
    query = select(AuditEvent).order_by(AuditEvent.id.desc())
    return page_or_part("admin/audit.html", "admin/_audit.html", page=page_of(query))
