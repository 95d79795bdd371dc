"""API tokens: a random secret given to the client once; only its SHA-256 hash is stored.

The secret is 256 random bits, so a fast hash is enough (unlike passwords, it cannot be
guessed from a list), and the hash can be looked up directly.
"""

import hashlib
import secrets
from datetime import UTC, datetime

from flask import current_app
from sqlalchemy import DateTime, ForeignKey, String, delete, select
from sqlalchemy.orm import Mapped, backref, mapped_column, relationship

from ..extensions import db
from ..models import User, sessions_revoked


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiToken(db.Model):  # type: ignore[name-defined]  # db.Model: made at run time
    """A bearer token of one user, valid until it expires or is revoked (deleted)."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Tokens die with their account: in the database (ON DELETE CASCADE) and in the ORM.
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=lambda: datetime.now(UTC)
    )
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship(backref=backref("api_tokens", cascade="all, delete-orphan"))

    @classmethod
    def issue(cls, user: User) -> tuple["ApiToken", str]:
        """A new token for `user`; returns (token, secret). The secret is never stored."""
        secret = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        # Expired tokens of this user are of no use to anyone: drop them on the way.
        expired = delete(cls).where(cls.user_id == user.id, cls.expires_at <= now)
        db.session.execute(expired, execution_options={"synchronize_session": "fetch"})
        token = cls(
            user=user,
            token_hash=digest(secret),
            created_at=now,
            expires_at=now + current_app.config["API_TOKEN_LIFETIME"],
        )
        db.session.add(token)
        return token, secret

    @classmethod
    def user_for(cls, secret: str) -> User | None:
        """The user a secret belongs to, or None when it is unknown or expired."""
        token = db.session.scalar(select(cls).filter_by(token_hash=digest(secret)))
        if token is None or aware(token.expires_at) <= datetime.now(UTC):
            return None
        if not token.user.is_active:  # disabling deletes its tokens; this is the second lock
            return None
        user: User = token.user
        return user


def aware(moment: datetime) -> datetime:
    """SQLite hands datetimes back without their time zone; they were stored in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@sessions_revoked.connect
def revoke_api_tokens(user: User) -> None:
    """Delete every API token of `user` (log out everywhere). The caller commits."""
    db.session.execute(delete(ApiToken).where(ApiToken.user_id == user.id))
