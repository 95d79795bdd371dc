"""Sign up, verify the address, log in and out, reset or change the password, change the
address, delete the account."""

import functools
import time
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_limiter import RouteLimit
from flask_login import current_user, login_required, login_user, logout_user
from flask_login.config import COOKIE_NAME
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from ..extensions import db, limiter
from ..models import User
from ..ratelimit import password_guesses
from . import bp, email, guesses, rules, tokens
from .factors.forms import PasskeyNameForm
from .factors.fresh import fresh_login_required
from .factors.routes import password_checked
from .forms import (
    ChangeEmailForm,
    ChangePasswordForm,
    DeleteAccountForm,
    ForgotPasswordForm,
    LoginForm,
    RegisterForm,
    ResetPasswordForm,
)

LOGIN_FAILED = (
    "Invalid username or password. Signed up just now? Open the link we mailed you first: "
    "logging in sends it again."
)
LAST_ADMIN = (
    "You are the last administrator: make another one (flask set-admin NAME) before you "
    "delete your account."
)


def rate_limit(setting: str) -> RouteLimit:
    """Count the POSTs of a view against the limit a setting names, per client address."""
    return limiter.limit(lambda: current_app.config[setting], methods=["POST"])


@functools.cache
def unknown_user_hash(method: str) -> str:
    """Checked when the username is unknown, so both failures take the same time."""
    return generate_password_hash("not a real password", method=method)


@bp.route("/register", methods=["GET", "POST"])
@rate_limit("REGISTER_RATE_LIMIT")
def register() -> ResponseReturnValue:
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = RegisterForm()
    if form.validate_on_submit():
        user = User(username=form.username.data, email=form.email.data)
        user.set_password(form.password.data or "")
        db.session.add(user)
        try:
            db.session.commit()  # the unique constraints decide, also between two sign-ups at once
        except IntegrityError:
            db.session.rollback()
            # Taken, or only looks like one taken (rules.skeleton): `r00t` beside `root`.
            taken = select(User.id).filter_by(username_skeleton=user.username_skeleton)
            if db.session.scalar(taken):
                form.username.errors.append("That username is taken.")  # type: ignore[attr-defined]
                return render_template("register.html", form=form)
            # The address (or a look-alike) has an account: mail its owner, and answer as for
            # a new account, so the page does not tell who has an account here.
            owner = db.session.scalar(select(User).filter_by(email_skeleton=user.email_skeleton))
            sent = owner is not None and email.send_account_exists(owner)
        else:
            sent = email.send_verification(user)
        if sent:
            flash(f"Welcome! Open the link we have sent to {form.email.data} to verify it.")
        else:
            flash(
                "Your account is ready, but we could not send the mail to verify your "
                "address. Log in later to get a new link."
            )
        return redirect(url_for("auth.login"))
    return render_template("register.html", form=form)


@bp.get("/verify/<token>")
def verify_email(token: str) -> ResponseReturnValue:
    back = redirect(url_for("auth.account" if current_user.is_authenticated else "auth.login"))
    found = tokens.read_email_token(token)
    if found is None:
        flash("That link is invalid or has expired.")
        return back
    user, address = found
    user.email, user.email_verified = address, True
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        flash("That email address belongs to another account now.")
    else:
        flash(f"Your email address {address} is verified.")
    return back


@bp.route("/login", methods=["GET", "POST"])
@password_guesses
def login() -> ResponseReturnValue:
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = LoginForm()
    if form.validate_on_submit():
        name = form.username.data
        user = db.session.scalar(
            select(User).where(or_(User.username == name, User.email == name))
        )
        budget = guesses.account(user, name)
        if not guesses.left(budget):
            flash(guesses.TOO_MANY)
            return render_template("login.html", form=form), 429
        if user is None:
            method = current_app.config["HASH_METHOD"]
            check_password_hash(unknown_user_hash(method), form.password.data or "")
        elif user.check_password(form.password.data):
            if must_verify(user):
                # Answered as a wrong password: a sign-up with an address that has an account
                # makes no account (its owner is mailed), so an account waiting for its link
                # must look like none. The link goes again, to the address alone.
                email.send_verification(user)
                flash(LOGIN_FAILED)
                return render_template("login.html", form=form)
            if not user.is_active:  # told only to whoever knows the password
                flash("This account is disabled. Please contact the site's administrators.")
                return render_template("login.html", form=form), 403
            # In now, or after a second factor when the account has one (factors/routes.py).
            return password_checked(user, bool(form.remember.data), request.args.get("next"))
        # One message for every failure: it must not tell which usernames exist.
        guesses.wrong(budget)
        flash(LOGIN_FAILED)
    return render_template("login.html", form=form)


def must_verify(user: User) -> bool:
    """Accounts made before addresses were asked for have none to verify."""
    needed = current_app.config["LOGIN_REQUIRES_VERIFIED_EMAIL"]
    return needed and user.email is not None and not user.email_verified


@bp.post("/logout")
@login_required
def logout() -> ResponseReturnValue:
    # Session cookies live in the browser and cannot be recalled one by one: a new session
    # token ends every session and remember-me cookie of this account, on every device.
    current_user.revoke_sessions()
    db.session.commit()
    logout_user()
    flash("You have been logged out, on every device.")
    return redirect(url_for("main.index"))


@bp.route("/forgot-password", methods=["GET", "POST"])
@rate_limit("MAIL_RATE_LIMIT")
def forgot_password() -> ResponseReturnValue:
    started = time.monotonic()
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        user = db.session.scalar(select(User).filter_by(email=form.email.data))
        if user is not None:
            email.send_password_reset(user)  # queued: the page says the same either way
        # ... and takes as long: mailing takes a few milliseconds more than nothing.
        floor = started + current_app.config["FORGOT_PASSWORD_SECONDS"]
        time.sleep(max(0.0, floor - time.monotonic()))
        flash(
            "If an account has that email address, we have sent it a link to reset the password."
        )
        return redirect(url_for("auth.login"))
    return render_template("forgot_password.html", form=form)


@bp.get("/reset-password/<token>")
def reset_link(token: str) -> ResponseReturnValue:
    """The mailed link: its token moves into the session, and the browser on to a URL without
    it, so it stays out of the history, of Referer headers and of what a page loads later.
    Opening the link spends nothing; only the form's POST does."""
    if tokens.read_reset_token(token) is None:
        flash("That link is invalid, used or expired. Ask for a new one.")
        return redirect(url_for("auth.forgot_password"))
    session["reset_token"] = token
    return redirect(url_for("auth.reset_password"))


@bp.route("/reset-password", methods=["GET", "POST"])
@bp.post("/reset-password/<token>")  # the form of a page opened before the link moved it
def reset_password(token: str | None = None) -> ResponseReturnValue:
    user = tokens.read_reset_token(token or session.get("reset_token", ""))
    if user is None:
        session.pop("reset_token", None)
        flash("That link is invalid, used or expired. Ask for a new one.")
        return redirect(url_for("auth.forgot_password"))
    form = ResetPasswordForm()
    form.account = user
    if form.validate_on_submit():
        user.set_password(form.password.data or "")
        user.email_verified = True  # the link reached the address
        user.revoke_sessions()
        db.session.commit()
        guesses.forget(user)
        logout_user()
        session.pop("reset_token", None)
        flash(
            "Your password has been changed and every session of your account ended. "
            "Log in with the new password."
        )
        return redirect(url_for("auth.login"))
    return render_template("reset_password.html", form=form)


@bp.get("/account")
@login_required
def account() -> ResponseReturnValue:
    return render_template("account.html", passkey_form=PasskeyNameForm())


@bp.route("/change-password", methods=["GET", "POST"])
@login_required
@fresh_login_required
@password_guesses
def change_password() -> ResponseReturnValue:
    form = ChangePasswordForm()
    form.account = current_user
    if form.validate_on_submit() and right_password(form):
        current_user.set_password(form.password.data)
        current_user.revoke_sessions()
        db.session.commit()
        user = current_user._get_current_object()
        login_user(user, remember=remembered())  # this session goes on, no other
        flash("Your password has been changed. You are logged out everywhere else.")
        return redirect(url_for("auth.account"))
    return render_template("change_password.html", form=form)


@bp.route("/change-email", methods=["GET", "POST"])
@login_required
@fresh_login_required
@rate_limit("MAIL_RATE_LIMIT")
@password_guesses
def change_email() -> ResponseReturnValue:
    form = ChangeEmailForm()
    if form.validate_on_submit() and right_password(form):
        address = form.email.data
        look_alike = select(User).filter_by(email_skeleton=rules.skeleton(address or ""))
        owner = db.session.scalar(look_alike)
        # An address with an account (or one that reads the same): its owner is told by
        # mail, and this page says what it says for any address, so it tells no one who has
        # an account here.
        if owner is not None and owner.id != current_user.id:
            sent = email.send_account_exists(owner)
        else:
            sent = email.send_verification(current_user, address)
        if sent:
            flash(f"We have sent a link to {address}. Your address changes when you open it.")
            return redirect(url_for("auth.account"))
        else:
            flash("We could not send the mail just now. Please try again later.")
    return render_template("change_email.html", form=form)


@bp.route("/delete-account", methods=["GET", "POST"])
@login_required
@fresh_login_required
@password_guesses
def delete_account() -> ResponseReturnValue:
    form = DeleteAccountForm()
    if current_user.is_last_admin():
        flash(LAST_ADMIN)
        return redirect(url_for("auth.account"))
    if form.validate_on_submit() and right_password(form):
        db.session.delete(current_user._get_current_object())
        db.session.commit()
        logout_user()
        flash("Your account has been deleted.")
        return redirect(url_for("main.index"))
    return render_template("delete_account.html", form=form)


def right_password(form: Any) -> bool:
    """Check the current password a form asks for before a change to the account."""
    budget = guesses.account(current_user)
    if not guesses.left(budget):
        form.current_password.errors.append(guesses.TOO_MANY)
        return False
    if current_user.check_password(form.current_password.data):
        return True
    guesses.wrong(budget)
    form.current_password.errors.append("That is not your password.")
    return False


def remembered() -> bool:
    return current_app.config.get("REMEMBER_COOKIE_NAME", COOKIE_NAME) in request.cookies


def safe_next(target: str | None) -> str:
    """Follow ?next= only to a path on this site, never to another host."""
    if target and target.startswith("/") and target.isprintable() and "\\" not in target:
        try:
            parts = urlsplit(target)
        except ValueError:  # such as "//[": not a URL
            parts = None
        if parts and not parts.scheme and not parts.netloc:
            return target
    return url_for("main.index")
