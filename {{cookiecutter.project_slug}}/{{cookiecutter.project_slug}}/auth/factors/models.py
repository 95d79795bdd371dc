"""The second factors' tables: passkeys, an authenticator app's secret, recovery codes.

Each row belongs to one user and dies with the account (ON DELETE CASCADE, and in the ORM).
"""

from datetime import UTC, datetime

from sqlalchemy import DateTime, ForeignKey, LargeBinary, String, update
from sqlalchemy.orm import Mapped, backref, mapped_column, relationship

from ...extensions import db
from ...models import User


def now() -> datetime:
    return datetime.now(UTC)


class Passkey(db.Model):  # type: ignore[name-defined]  # db.Model: made at run time
    """A WebAuthn credential: its id and public key, never a secret."""

    __tablename__ = "webauthn_credential"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    credential_id: Mapped[bytes] = mapped_column(LargeBinary(1023), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(1024))  # COSE, as registered
    sign_count: Mapped[int] = mapped_column(default=0)
    transports: Mapped[str] = mapped_column(String(200), default="")  # "internal,hybrid"
    name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship(
        backref=backref("passkeys", cascade="all, delete-orphan", order_by="Passkey.id")
    )


class TotpSecret(db.Model):  # type: ignore[name-defined]  # db.Model: made at run time
    """An authenticator app's shared secret, encrypted (totp.py), one per user.

    It counts once `confirmed_at` is set, by a code typed from the app. `last_step` is the
    time step of the last code accepted: a code of that step or an earlier one is refused.
    """

    __tablename__ = "totp_secret"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), primary_key=True
    )
    secret: Mapped[str] = mapped_column(String(255))  # Fernet token of the base32 secret
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_step: Mapped[int | None]

    user: Mapped[User] = relationship(
        backref=backref("totp", cascade="all, delete-orphan", uselist=False)
    )

    def use_step(self, step: int) -> bool:
        """Record `step` as used; False when it (or a later one) was used already. One
        UPDATE decides, so two requests racing with one code cannot both pass."""
        table = type(self)
        result = db.session.execute(
            update(table)
            .where(table.user_id == self.user_id)
            .where((table.last_step.is_(None)) | (table.last_step < step))
            .values(last_step=step),
            execution_options={"synchronize_session": False},
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


class RecoveryCode(db.Model):  # type: ignore[name-defined]  # db.Model: made at run time
    """A code for when every other factor is lost: only its SHA-256 hash is kept, and it
    works once (`used_at`)."""

    __tablename__ = "recovery_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship(
        backref=backref("recovery_codes", cascade="all, delete-orphan")
    )
