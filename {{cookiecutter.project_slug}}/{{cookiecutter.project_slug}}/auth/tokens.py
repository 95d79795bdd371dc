"""Signed, expiring links sent by email: verify an address, reset a password.

itsdangerous signs a token with SECRET_KEY but does not encrypt it, so a token carries ids
and fingerprints, never a secret. Each names the state it was made for and is refused once
that state has changed: a reset link dies when the password (or the address) changes, so
it works once; a verification link dies when the account's address changes.
"""

import hashlib
from typing import Any

from flask import current_app
from itsdangerous import BadData, URLSafeTimedSerializer

from ..extensions import db
from ..models import User


def fingerprint(*values: str | None) -> str:
    return hashlib.sha256("\0".join(value or "" for value in values).encode()).hexdigest()[:32]


def serializer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=f"auth.{purpose}")


def load(purpose: str, token: str, max_age: int) -> tuple[Any, User | None]:
    """The token's data and its user, or (None, None) when it is forged, expired or broken."""
    try:
        data = serializer(purpose).loads(token, max_age=max_age)
        user = db.session.get(User, int(data["id"]))
    except (BadData, KeyError, TypeError, ValueError):
        return None, None
    return data, user


def email_token(user: User, address: str | None) -> str:
    """A link proving `address` reaches `user`, valid while the account keeps its address."""
    data = {"id": user.id, "email": address, "was": fingerprint(user.email)}
    return serializer("verify-email").dumps(data)


def read_email_token(token: str) -> tuple[User, str | None] | None:
    """(user, address) for a valid verification link, else None."""
    data, user = load("verify-email", token, current_app.config["EMAIL_TOKEN_MAX_AGE"])
    if user is None or data.get("was") != fingerprint(user.email):
        return None
    return user, data.get("email")


def reset_token(user: User) -> str:
    """A link to set a new password, valid until the password or the address changes."""
    data = {"id": user.id, "state": fingerprint(user.password_hash, user.email)}
    return serializer("reset-password").dumps(data)


def read_reset_token(token: str) -> User | None:
    """The user of a valid reset link, else None."""
    data, user = load("reset-password", token, current_app.config["RESET_TOKEN_MAX_AGE"])
    if user is None or data.get("state") != fingerprint(user.password_hash, user.email):
        return None
    return user
