"""Second factors: passkeys (passkeys.py), an authenticator app (totp.py) and recovery codes
(recovery.py), their tables (models.py) and pages (routes.py); fresh.py asks for a password
or a factor again before sensitive actions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ...models import User


def second_factors(user: User) -> bool:
    """True when the user has a passkey or a confirmed authenticator app."""
    from . import totp

    return bool(user.passkeys) or totp.enrolled(user)
