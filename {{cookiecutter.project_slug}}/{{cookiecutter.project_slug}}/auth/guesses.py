"""Budgets of wrong password guesses, per account, so that no stranger can lock its owner out.

The login form, the API's token requests and the forms that ask for the current password
share them (LOGIN_RATE_LIMIT, per client, is shared by the same views). Which budget a guess
draws on depends on who sends it, as OWASP's "device cookies" describe:

- A browser that has logged in to the account before holds a signed cookie naming it (set at
  each login, DEVICE_COOKIE_DAYS long). Its guesses draw on a budget of that device's own
  (DEVICE_GUESS_RATE_LIMIT): strangers spending the account's budget do not touch it, so the
  owner on a known device always gets in with the right password.
- Every other client shares the account's budget for unknown devices
  (ACCOUNT_GUESS_RATE_LIMIT): many addresses together still guess only so many times.
- An unknown name has a budget of its own, so the answer never tells whether an account
  exists. A password reset, which proves the address, gives the account a fresh budget.

The cookie only picks a budget: it logs no one in, and holds a user id and a random number,
signed with SECRET_KEY, nothing secret. A stolen one gives its thief the device's budget alone.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from flask import current_app, request
from itsdangerous import BadData, URLSafeTimedSerializer
from werkzeug.wrappers import Response

from .. import ratelimit

if TYPE_CHECKING:
    from ..models import User

SETTING = "ACCOUNT_GUESS_RATE_LIMIT"
DEVICE_SETTING = "DEVICE_GUESS_RATE_LIMIT"
COOKIE = "device"
TOO_MANY = "Too many wrong passwords for this account. Please try again later."


def account(user: User | None, name: str | None = None) -> tuple[str, str]:
    """The key of the budget a guess draws on: this device's for the account, the account's
    for unknown devices, or the name typed when it has no account."""
    if user is None:
        return ("name", name or "")
    device = known_device(user)
    return ("device", f"{user.id}:{device}") if device else ("user", str(user.id))


def left(key: tuple[str, str]) -> bool:
    return ratelimit.within(setting(key), *key)


def wrong(key: tuple[str, str]) -> None:
    ratelimit.count(setting(key), *key)


def forget(user: User) -> None:
    ratelimit.forget(SETTING, "user", str(user.id))


def setting(key: tuple[str, str]) -> str:
    return DEVICE_SETTING if key[0] == "device" else SETTING


def serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="auth.device")


def known_device(user: User) -> str | None:
    """The id of this browser as a device that logged in to `user` before, or None."""
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return None
    max_age = current_app.config["DEVICE_COOKIE_DAYS"] * 86400
    try:
        data = serializer().loads(cookie, max_age=max_age)
        if data["id"] == user.id:
            return str(data["device"])
    except (BadData, KeyError, TypeError):
        pass
    return None


def remember_device(response: Response, user: User) -> Response:
    """After a login with the password: this browser is a known device of the account."""
    device = known_device(user) or secrets.token_urlsafe(16)
    config = current_app.config
    response.set_cookie(
        COOKIE,
        serializer().dumps({"id": user.id, "device": device}),
        max_age=config["DEVICE_COOKIE_DAYS"] * 86400,
        path="/",
        secure=config["SESSION_COOKIE_SECURE"],
        httponly=True,
        samesite="Lax",
    )
    return response
