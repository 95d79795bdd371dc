"""The pages of the second factors: add and remove them on the account page, the second
step of a login, a sign-in with a passkey alone, and the fresh check (fresh.py).

passkeys.py and totp.py are imported in the views that use them: py_webauthn, cryptography,
pyotp and segno add about 15 MiB to a worker, and most requests never need them.
"""

import time
from typing import Any

from flask import (
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required, login_user
from werkzeug.wrappers import Response as WerkzeugResponse

from ...extensions import db
from ...models import User
from ...ratelimit import password_guesses
from .. import bp, email, guesses
from . import app_enrolled, recovery, second_factors
from .forms import ButtonForm, CodeForm, ConfirmForm, EnrolTotpForm, PasskeyNameForm
from .fresh import fresh_login_required, mark_fresh
from .models import Passkey

PENDING = "pending_login"  # the session's note of a password checked, a factor to come
PENDING_SECONDS = 300
WRONG_CODE = "That code is not right, or was used already."


# The login's second step -------------------------------------------------------------


def finish_login(user: User, remember: bool, target: str) -> WerkzeugResponse:
    """Start the session of a user who has shown everything asked."""
    from ..routes import safe_next

    session.clear()  # a fresh session, and with it a fresh CSRF token
    user.logged_in()
    db.session.commit()
    login_user(user, remember=remember)
    mark_fresh()
    # A known device from now on: strangers' wrong passwords never lock it out (guesses.py).
    return guesses.remember_device(redirect(safe_next(target)), user)


def password_checked(user: User, remember: bool, target: str | None) -> WerkzeugResponse:
    """The password was right: log in, or first ask for a second factor when there is one."""
    if not second_factors(user):
        return finish_login(user, remember, target or "")
    session.clear()
    session[PENDING] = {
        "user": user.id,
        "remember": remember,
        "next": target or "",
        "until": time.time() + PENDING_SECONDS,
    }
    return redirect(url_for("auth.second_factor"))


def pending_user() -> tuple[User, dict[str, Any]] | None:
    pending = session.get(PENDING)
    if not pending or pending.get("until", 0) < time.time():
        return None
    user = db.session.get(User, pending.get("user"))
    if user is None or not user.is_active:
        return None
    return user, pending


def check_code(user: User, code: str) -> bool:
    """A code of the authenticator app, else a recovery code, within the account's budget
    of guesses (shared with the password's). Commits the step or code used."""
    from . import totp

    budget = guesses.account(user)
    if not guesses.left(budget):
        return False
    if app_enrolled(user) and totp.check(user, code):
        db.session.commit()
        return True
    if recovery.use(user, code):
        db.session.commit()
        if recovery.left(user) <= 2:
            flash(f"You have {recovery.left(user)} recovery codes left: make new ones.")
        return True
    db.session.rollback()
    guesses.wrong(budget)
    return False


@bp.route("/second-factor", methods=["GET", "POST"])
@password_guesses
def second_factor() -> ResponseReturnValue:
    found = pending_user()
    if found is None:
        flash("Please log in again.")
        return redirect(url_for("auth.login"))
    user, pending = found
    form = CodeForm()
    if form.validate_on_submit():
        if check_code(user, form.code.data or ""):
            return finish_login(user, pending["remember"], pending["next"])
        form.code.errors.append(  # type: ignore[attr-defined]
            WRONG_CODE if guesses.left(guesses.account(user)) else guesses.TOO_MANY
        )
    return render_template(
        "auth/second_factor.html", form=form, passkeys=bool(user.passkeys), user=user
    )


@bp.post("/second-factor/options")
def second_factor_options() -> ResponseReturnValue:
    from . import passkeys

    found = pending_user()
    if found is None:
        return jsonify(error="Please log in again.", next=url_for("auth.login")), 401
    user, _ = found
    return current_app.response_class(
        passkeys.authentication_options("second", user), mimetype="application/json"
    )


@bp.post("/second-factor/passkey")
@password_guesses
def second_factor_passkey() -> ResponseReturnValue:
    from . import passkeys

    found = pending_user()
    if found is None:
        return jsonify(error="Please log in again.", next=url_for("auth.login")), 401
    user, pending = found
    budget = guesses.account(user)
    if not guesses.left(budget):
        return jsonify(error=guesses.TOO_MANY), 429
    try:
        passkeys.authenticate("second", request.get_data(as_text=True), user)
    except passkeys.PasskeyError as error:
        current_app.logger.info("passkey refused: %s", error)
        guesses.wrong(budget)
        return jsonify(error="That passkey was not accepted."), 400
    response = finish_login(user, pending["remember"], pending["next"])
    return jsonify(next=response.location)


# A passkey alone --------------------------------------------------------------------
# Asking for options guesses nothing (the login page asks on every visit, for the autofill):
# only the answers count against LOGIN_RATE_LIMIT.


@bp.post("/passkey-login/options")
def passkey_login_options() -> ResponseReturnValue:
    from . import passkeys

    return current_app.response_class(
        passkeys.authentication_options("sign-in"), mimetype="application/json"
    )


@bp.post("/passkey-login")
@password_guesses
def passkey_login() -> ResponseReturnValue:
    from . import passkeys

    try:
        passkey = passkeys.authenticate("sign-in", request.get_data(as_text=True))
    except passkeys.PasskeyError as error:
        current_app.logger.info("passkey refused: %s", error)
        return jsonify(error="That passkey was not accepted."), 400
    user = passkey.user
    if not user.is_active:
        return jsonify(error="This account is disabled."), 403
    if not guesses.left(guesses.account(user)):
        return jsonify(error=guesses.TOO_MANY), 429
    response = finish_login(user, False, request.args.get("next", ""))
    return jsonify(next=response.location)


# The fresh check -----------------------------------------------------------------------


@bp.route("/confirm", methods=["GET", "POST"])
@login_required
@password_guesses
def confirm() -> ResponseReturnValue:
    from ..routes import safe_next

    form = ConfirmForm()
    user = current_user._get_current_object()
    target = request.args.get("next", "")
    if form.validate_on_submit():
        budget = guesses.account(user)
        if form.password.data:
            right = guesses.left(budget) and user.check_password(form.password.data)
            if not right:
                guesses.wrong(budget)
        else:
            right = bool(form.code.data) and check_code(user, form.code.data or "")
        if right:
            mark_fresh()
            return redirect(safe_next(target))
        form.password.errors.append(  # type: ignore[attr-defined]
            "That is not right." if guesses.left(budget) else guesses.TOO_MANY
        )
    return render_template(
        "auth/confirm.html", form=form, passkeys=bool(user.passkeys), target=target
    )


@bp.post("/confirm/options")
@login_required
def confirm_options() -> ResponseReturnValue:
    from . import passkeys

    user = current_user._get_current_object()
    return current_app.response_class(
        passkeys.authentication_options("confirm", user), mimetype="application/json"
    )


@bp.post("/confirm/passkey")
@login_required
@password_guesses
def confirm_passkey() -> ResponseReturnValue:
    from ..routes import safe_next
    from . import passkeys

    user = current_user._get_current_object()
    try:
        passkeys.authenticate("confirm", request.get_data(as_text=True), user)
    except passkeys.PasskeyError as error:
        current_app.logger.info("passkey refused: %s", error)
        guesses.wrong(guesses.account(user))
        return jsonify(error="That passkey was not accepted."), 400
    db.session.commit()
    mark_fresh()
    return jsonify(next=safe_next(request.args.get("next")))


# Adding and removing factors (the account page lists them) -------------------------------


def factor_changed(user: User, factor: str, added: bool) -> WerkzeugResponse:
    """Mail the user; a removal ends every other session (this one goes on)."""
    from ..routes import remembered

    if not added:
        user.revoke_sessions()
    db.session.commit()
    if not added:
        login_user(user, remember=remembered())
        mark_fresh()
    email.send_factor_changed(user, factor, added)
    return redirect(url_for("auth.account"))


@bp.post("/passkeys/options")
@fresh_login_required
def passkey_options() -> ResponseReturnValue:
    from . import passkeys

    user = current_user._get_current_object()
    return current_app.response_class(
        passkeys.registration_options(user), mimetype="application/json"
    )


@bp.post("/passkeys")
@fresh_login_required
def add_passkey() -> ResponseReturnValue:
    from . import passkeys

    user = current_user._get_current_object()
    form = PasskeyNameForm(data={"name": request.args.get("name", "")}, meta={"csrf": False})
    name = (form.name.data or "").strip() if form.validate() else ""
    try:
        passkeys.register(user, request.get_data(as_text=True), name or "Passkey")
    except passkeys.PasskeyError as error:
        current_app.logger.info("passkey registration refused: %s", error)
        return jsonify(error="That passkey could not be added."), 400
    flash(f"The passkey {name or 'Passkey'} is added.")
    factor_changed(user, f"A passkey ({name or 'Passkey'})", added=True)
    return jsonify(next=url_for("auth.account"))


@bp.post("/passkeys/<int(max=2147483647):passkey_id>/delete")
@fresh_login_required
def remove_passkey(passkey_id: int) -> ResponseReturnValue:
    user = current_user._get_current_object()
    passkey = db.session.get(Passkey, passkey_id)
    if passkey is None or passkey.user_id != user.id or not ButtonForm().validate_on_submit():
        abort(404)
    db.session.delete(passkey)
    flash(f"The passkey {passkey.name} is removed. Your other sessions have ended.")
    return factor_changed(user, f"A passkey ({passkey.name})", added=False)


@bp.route("/totp", methods=["GET", "POST"])
@fresh_login_required
def enrol_totp() -> ResponseReturnValue:
    from . import totp

    user = current_user._get_current_object()
    if app_enrolled(user):
        flash("Your authenticator app is on already. Remove it first to change it.")
        return redirect(url_for("auth.account"))
    form = EnrolTotpForm()
    if request.method == "POST" and user.totp is not None:
        if form.validate_on_submit() and totp.confirm(user, form.code.data or ""):
            codes = recovery.generate(user)
            factor_changed(user, "An authenticator app", added=True)
            return render_template("auth/recovery_codes.html", codes=codes, first=True)
        form.code.errors.append(WRONG_CODE)  # type: ignore[attr-defined]
        secret = totp.secret_of(user.totp)  # the one the app has scanned
    else:
        secret = totp.start(user)
        db.session.commit()
    address = totp.uri(user, secret)
    return render_template(
        "auth/totp.html", form=form, secret=secret, qr=totp.qr_svg(address), address=address
    )


@bp.post("/totp/delete")
@fresh_login_required
def remove_totp() -> ResponseReturnValue:
    user = current_user._get_current_object()
    if user.totp is None or not ButtonForm().validate_on_submit():
        abort(404)
    db.session.delete(user.totp)
    flash("The authenticator app is removed. Your other sessions have ended.")
    return factor_changed(user, "An authenticator app", added=False)


@bp.post("/recovery-codes")
@fresh_login_required
def new_recovery_codes() -> ResponseReturnValue:
    user = current_user._get_current_object()
    if not ButtonForm().validate_on_submit():
        abort(400)
    codes = recovery.generate(user)
    db.session.commit()
    return render_template("auth/recovery_codes.html", codes=codes, first=False)
