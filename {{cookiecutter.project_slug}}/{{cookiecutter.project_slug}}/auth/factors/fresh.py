"""A fresh check ("sudo mode") before sensitive actions: the password or a factor again,
when the last check is older than FRESH_CHECK_MINUTES.

Flask-Login marks a session fresh when it starts from a login (not from a remember-me
cookie); this adds the time of the last check to the session, and `confirm_login()` makes
it fresh again after the check (auth.confirm).
"""

import functools
import time
from collections.abc import Callable
from typing import Any, ParamSpec
from urllib.parse import urlsplit

from flask import current_app, flash, jsonify, redirect, request, session, url_for
from flask_login import confirm_login, current_user, login_fresh

from ...extensions import login_manager

P = ParamSpec("P")
KEY = "checked_at"
ASK = "Please confirm it is you to go on."


def mark_fresh() -> None:
    """The user has just shown the password or a factor."""
    confirm_login()
    session[KEY] = int(time.time())


def is_fresh() -> bool:
    window = current_app.config["FRESH_CHECK_MINUTES"] * 60
    checked: int = session.get(KEY, 0)
    return bool(login_fresh()) and time.time() - checked < window


def back_here() -> str:
    """Where to go after the check: this page, or for a form the page it was sent from."""
    if request.method == "GET":
        return request.full_path.rstrip("?")
    source = urlsplit(request.referrer or "")
    if source.netloc == request.host and source.path.startswith("/"):
        return source.path + (f"?{source.query}" if source.query else "")
    return url_for("auth.account")


def ask_again() -> Any:
    """The answer to a request that needs a fresh check: to the check, then back."""
    target = url_for("auth.confirm", next=back_here())
    if request.is_json:
        return jsonify(error=ASK, next=target), 401
    flash(ASK)
    return redirect(target)


def fresh_login_required(view: Callable[P, Any]) -> Callable[P, Any]:
    """Like Flask-Login's decorator of that name, with a time limit: a login, or a check of
    the password or a factor, within FRESH_CHECK_MINUTES."""

    @functools.wraps(view)
    def checked(*args: P.args, **kwargs: P.kwargs) -> Any:
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        if not is_fresh():
            return ask_again()
        return view(*args, **kwargs)

    return checked
