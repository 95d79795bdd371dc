"""One budget of wrong password guesses per account, whichever client sends them.

The login form, the API's token requests and the forms that ask for the current password
share it (LOGIN_RATE_LIMIT, per client, is shared by the same views). An unknown name has a
budget of its own, so the answer never tells whether an account exists. A password reset,
which proves the address, gives the account a fresh budget.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import ratelimit

if TYPE_CHECKING:
    from ..models import User

SETTING = "ACCOUNT_GUESS_RATE_LIMIT"
TOO_MANY = "Too many wrong passwords for this account. Please try again later."


def account(user: User | None, name: str | None = None) -> tuple[str, str]:
    """The key of the budget: the account's id, or the name typed when it has no account."""
    return ("user", str(user.id)) if user is not None else ("name", name or "")


def left(key: tuple[str, str]) -> bool:
    return ratelimit.within(SETTING, *key)


def wrong(key: tuple[str, str]) -> None:
    ratelimit.count(SETTING, *key)


def forget(user: User) -> None:
    ratelimit.forget(SETTING, *account(user))
