"""Second factors: passkeys (passkeys.py), an authenticator app (totp.py) and recovery codes
(recovery.py), their tables (models.py) and pages (routes.py); fresh.py asks for a password
or a factor again before sensitive actions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ...models import User


def app_enrolled(user: User) -> bool:
    """True when the user has confirmed an authenticator app."""
    return user.totp is not None and user.totp.confirmed_at is not None


def second_factors(user: User) -> bool:
    """True when the user has a passkey or a confirmed authenticator app."""
    return bool(user.passkeys) or app_enrolled(user)
