"""Recovery codes: shown once, kept as SHA-256 hashes, each used once.

A code has 80 random bits (16 base32 characters), so a fast hash is enough, as for the API's
tokens: it cannot be guessed from a list, and the guess budgets stop trying online.
"""

import base64
import hashlib
import secrets
from datetime import UTC, datetime

from sqlalchemy import delete, select, update

from ...extensions import db
from ...models import User
from .models import RecoveryCode

COUNT = 10


def normal(code: str) -> str:
    """Upper case, without the dashes and spaces people type or copy."""
    return "".join(character for character in code.upper() if character.isalnum())


def digest(code: str) -> str:
    return hashlib.sha256(normal(code).encode()).hexdigest()


def new_code() -> str:
    text = base64.b32encode(secrets.token_bytes(10)).decode()  # 16 characters
    return "-".join(text[index : index + 4] for index in range(0, 16, 4))


def generate(user: User) -> list[str]:
    """Replace every recovery code of `user` by COUNT new ones; returns them (commit to apply)."""
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = [new_code() for _ in range(COUNT)]
    db.session.add_all(RecoveryCode(user_id=user.id, code_hash=digest(code)) for code in codes)
    return codes


def left(user: User) -> int:
    query = select(RecoveryCode.id).where(
        RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)
    )
    return len(db.session.scalars(query).all())


def use(user: User, code: str) -> bool:
    """Spend `code`; False when it is not one of the user's or was used. One UPDATE decides,
    so two requests with one code cannot both pass (commit to apply)."""
    if len(normal(code)) != 16:
        return False
    result = db.session.execute(
        update(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.code_hash == digest(code))
        .where(RecoveryCode.used_at.is_(None))
        .values(used_at=datetime.now(UTC)),
        execution_options={"synchronize_session": False},
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
