"""Database models."""

import hmac
import secrets
from datetime import UTC, datetime

from blinker import Namespace
from flask import current_app
from flask_login import UserMixin
from sqlalchemy import DateTime, String, func, select
from sqlalchemy.orm import Mapped, mapped_column, validates
from werkzeug.security import check_password_hash, generate_password_hash

from .extensions import db, login_manager

# Sent by User.revoke_sessions(): other credentials of the user (the API's tokens) end too.
sessions_revoked = Namespace().signal("sessions-revoked")


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


class User(UserMixin, db.Model):  # type: ignore[name-defined]  # db.Model: made at run time
    """Someone who can log in. Only a salted hash of the password is stored.

    The username and email are stored in the canonical form of auth/rules.py, so the unique
    constraints treat `Ada` and `ada` as one name; their confusable skeletons (rules.skeleton,
    set with them) are unique too, so `r00t` or a Cyrillic `rооt` cannot join `root`.
    """

    # AUTOINCREMENT: SQLite would otherwise give a deleted user's id to the next sign-up.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    # None only for accounts made before addresses were asked for.
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    email_verified: Mapped[bool] = mapped_column(default=False)
    # None only for the later of two look-alikes that were there before the skeletons were.
    username_skeleton: Mapped[str | None] = mapped_column(String(256), unique=True, index=True)
    email_skeleton: Mapped[str | None] = mapped_column(String(1024), unique=True, index=True)
    # Administrators manage accounts (/admin) and list them (GET /api/users); `flask set-admin`.
    is_admin: Mapped[bool] = mapped_column(default=False)
    password_hash: Mapped[str] = mapped_column(String(256))
    # Part of every session and remember-me cookie: a new one ends them all.
    session_token: Mapped[str] = mapped_column(String(64), default=new_session_token)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=lambda: datetime.now(UTC)
    )
    # Set by an administrator (/admin): a disabled account cannot log in, and has no sessions.
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When revoke_sessions() last ran: no session is open unless a login came after it.
    sessions_ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @validates("username", "email")
    def set_skeleton(self, key: str, value: str | None) -> str | None:
        from .auth.rules import skeleton

        setattr(self, f"{key}_skeleton", None if value is None else skeleton(value))
        return value

    @property
    def is_active(self) -> bool:
        """Flask-Login's name: False for a disabled account."""
        return self.disabled_at is None

    def is_last_admin(self) -> bool:
        """Whether this is the only active administrator: it must stay one, or nobody could
        reach the admin area (only `flask set-admin` would make another)."""
        if not (self.is_admin and self.is_active):
            return False
        others = select(func.count()).where(
            User.is_admin, User.disabled_at.is_(None), User.id != self.id
        )
        return not db.session.scalar(others)

    def logged_in(self) -> None:
        """Note a login with the password (commit to apply)."""
        self.last_login_at = datetime.now(UTC)

    def set_password(self, password: str) -> None:
        method = current_app.config["HASH_METHOD"]
        self.password_hash = generate_password_hash(password, method=method)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def get_id(self) -> str:
        """What Flask-Login keeps in the session and the remember-me cookie."""
        return f"{self.id}:{self.session_token}"

    def revoke_sessions(self) -> None:
        """End every session and remember-me cookie of this user, and every other credential
        that listens to `sessions_revoked` (commit to apply)."""
        self.session_token = new_session_token()
        self.sessions_ended_at = datetime.now(UTC)
        sessions_revoked.send(self)


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    number, _, token = user_id.partition(":")
    try:
        user = db.session.get(User, int(number))
    except ValueError:
        return None
    if user is None or not user.is_active:  # a disabled account's sessions are over
        return None
    if hmac.compare_digest(user.session_token.encode(), token.encode()):
        return user
    return None
