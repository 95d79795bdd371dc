"""An authenticator app (TOTP, RFC 6238, with pyotp): enrol with a QR code, check codes.

The shared secret is stored encrypted with Fernet under a key derived from SECRET_KEY by
HKDF (a key of its own, so nothing else signed with SECRET_KEY can reveal it). To rotate
SECRET_KEY, move the old value to SECRET_KEY_FALLBACKS: secrets still decrypt with it, and
each is re-encrypted under the new key the next time its code is checked (docs/sign-in.md).
"""

import base64
from datetime import UTC, datetime

import pyotp
import segno
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

from ...extensions import db
from ...models import User
from . import app_enrolled
from .models import TotpSecret

DIGITS = 6
INTERVAL = 30  # seconds a code lasts
WINDOW = 1  # codes of the step before and after are accepted too (clocks drift)


def fernet_key(secret_key: str) -> bytes:
    derive = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"totp-secret")
    return base64.urlsafe_b64encode(derive.derive(secret_key.encode()))


def cipher() -> MultiFernet:
    """The current key first (it encrypts), then SECRET_KEY_FALLBACKS' (they only decrypt)."""
    config = current_app.config
    keys = [config["SECRET_KEY"], *(config.get("SECRET_KEY_FALLBACKS") or [])]
    return MultiFernet([Fernet(fernet_key(key)) for key in keys if key])


def start(user: User) -> str:
    """A new, unconfirmed secret for `user` (replacing one not yet confirmed); returns it."""
    secret = pyotp.random_base32()
    if user.totp is None:
        user.totp = TotpSecret(secret="")
    user.totp.secret = cipher().encrypt(secret.encode()).decode()
    user.totp.confirmed_at = None
    user.totp.last_step = None
    return secret


def secret_of(row: TotpSecret) -> str:
    return cipher().decrypt(row.secret.encode()).decode()


def uri(user: User, secret: str) -> str:
    """The otpauth:// address the QR code carries."""
    name = user.email or user.username
    return pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL).provisioning_uri(
        name=name, issuer_name=current_app.config["APP_NAME"]
    )


def qr_svg(text: str) -> str:
    """The QR code as inline SVG markup: no style attribute, so the CSP needs no exception."""
    svg: str = segno.make(text, error="m").svg_inline(scale=5, border=2, title="QR code")
    return svg


def check(user: User, code: str) -> bool:
    """True when `code` is the app's code now (or a step off), and no code of that step or a
    later one was used before; the step is recorded (commit to apply)."""
    row = user.totp
    code = "".join(code.split())
    if row is None or not code.isdigit() or len(code) != DIGITS:
        return False
    try:
        secret = secret_of(row)
    except InvalidToken:  # SECRET_KEY changed with no fallback: the app must be enrolled again
        current_app.logger.warning("TOTP secret of user %s cannot be decrypted", user.id)
        return False
    otp = pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL)
    now = datetime.now(UTC)
    step_now = otp.timecode(now)
    for offset in range(-WINDOW, WINDOW + 1):
        step = step_now + offset
        if pyotp.utils.strings_equal(otp.generate_otp(step), code):
            if not row.use_step(step):
                return False  # replayed: this code (or a later one) was used already
            row.secret = cipher().rotate(row.secret.encode()).decode()
            db.session.expire(row, ["last_step"])
            return True
    return False


def confirm(user: User, code: str) -> bool:
    """Confirm an enrolment with a first code; True when it counts from now on."""
    if user.totp is None or not check(user, code):
        return False
    user.totp.confirmed_at = datetime.now(UTC)
    return True


enrolled = app_enrolled
