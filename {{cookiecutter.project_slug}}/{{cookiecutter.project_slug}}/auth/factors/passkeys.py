"""Passkeys (WebAuthn, with py_webauthn): register them, and check a sign-in with one.

The relying party is the site of BASE_URL (its host is the RP id, its origin the only origin
accepted); without BASE_URL (development) the request's own. Each ceremony's challenge is
kept in the session and taken out when the answer comes, so it works once. No attestation
is asked for ("none"): the site trusts the passkey, not a maker's certificate.
"""

import time
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, request, session
from sqlalchemy import select
from webauthn import (
    base64url_to_bytes,
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import bytes_to_base64url, parse_authentication_credential_json
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from ...extensions import db
from ...models import User
from .models import Passkey, now

CHALLENGE_SECONDS = 300  # how long a ceremony may take
SESSION_KEY = "webauthn"


class PasskeyError(Exception):
    """The browser's answer is refused (the message says why, for the log)."""


def site() -> tuple[str, str]:
    """(RP id, origin): BASE_URL's, else the request's (development)."""
    base = current_app.config.get("BASE_URL") or request.host_url
    parts = urlsplit(base)
    return parts.hostname or "", f"{parts.scheme}://{parts.netloc}"


def user_handle(user: User) -> bytes:
    """The id the passkey keeps for its account; the number alone tells nothing else."""
    return str(user.id).encode()


def remember_challenge(purpose: str, challenge: bytes) -> None:
    session[SESSION_KEY] = {
        "purpose": purpose,
        "challenge": bytes_to_base64url(challenge),
        "until": time.time() + CHALLENGE_SECONDS,
    }


def take_challenge(purpose: str) -> bytes:
    """The challenge of the ceremony under way, removed from the session: used once."""
    kept = session.pop(SESSION_KEY, None)
    if not kept or kept.get("purpose") != purpose or kept.get("until", 0) < time.time():
        raise PasskeyError("no challenge of this ceremony, or it has expired")
    return base64url_to_bytes(kept["challenge"])


def descriptors(user: User) -> list[PublicKeyCredentialDescriptor]:
    return [
        PublicKeyCredentialDescriptor(
            id=key.credential_id,
            transports=[AuthenticatorTransport(t) for t in key.transports.split(",") if t],
        )
        for key in user.passkeys
    ]


def registration_options(user: User) -> str:
    """The JSON for navigator.credentials.create(): a discoverable credential, verified."""
    rp_id, _ = site()
    options = generate_registration_options(
        rp_id=rp_id,
        rp_name=current_app.config["APP_NAME"],
        user_id=user_handle(user),
        user_name=user.username,
        exclude_credentials=descriptors(user),
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
    )
    remember_challenge("register", options.challenge)
    return options_to_json(options)


def register(user: User, answer: str | dict[str, Any], name: str) -> Passkey:
    """Check the answer of navigator.credentials.create() and add the passkey (commit)."""
    rp_id, origin = site()
    challenge = take_challenge("register")
    try:
        verified = verify_registration_response(
            credential=answer,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
            require_user_verification=True,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError) as error:
        raise PasskeyError(str(error)) from error
    if db.session.scalar(select(Passkey.id).filter_by(credential_id=verified.credential_id)):
        raise PasskeyError("this passkey is registered already")
    data = answer if isinstance(answer, dict) else {}
    transports = data.get("response", {}).get("transports") or []
    known = {t.value for t in AuthenticatorTransport}
    passkey = Passkey(
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        transports=",".join(t for t in transports if t in known)[:200],
        name=name,
    )
    user.passkeys.append(passkey)
    return passkey


def authentication_options(purpose: str, user: User | None = None) -> str:
    """The JSON for navigator.credentials.get(). With no user (a passkey alone: "sign-in"),
    any passkey of this site may answer and must verify its user (PIN, fingerprint); as a
    second factor after the password ("second"), only the user's."""
    rp_id, _ = site()
    options = generate_authentication_options(
        rp_id=rp_id,
        allow_credentials=descriptors(user) if user else [],
        user_verification=(
            UserVerificationRequirement.REQUIRED
            if user is None
            else UserVerificationRequirement.PREFERRED
        ),
    )
    remember_challenge(purpose, options.challenge)
    return options_to_json(options)


def authenticate(purpose: str, answer: str | dict[str, Any], user: User | None = None) -> Passkey:
    """Check the answer of navigator.credentials.get(); returns the passkey used (its counter
    and last use updated: commit). Without `user`, the passkey names its account."""
    rp_id, origin = site()
    challenge = take_challenge(purpose)
    try:
        credential = parse_authentication_credential_json(answer)
    except (WebAuthnException, ValueError, KeyError, TypeError) as error:
        raise PasskeyError(f"malformed answer: {error}") from error
    passkey: Passkey | None = db.session.scalar(
        select(Passkey).filter_by(credential_id=credential.raw_id)
    )
    if passkey is None or (user is not None and passkey.user_id != user.id):
        raise PasskeyError("unknown passkey")
    handle = credential.response.user_handle
    if handle is not None and handle != user_handle(passkey.user):
        raise PasskeyError("the passkey names another account")
    try:
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
            credential_public_key=passkey.public_key,
            credential_current_sign_count=passkey.sign_count,
            require_user_verification=user is None,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError) as error:
        # A counter that does not go up is refused here too: a sign of a cloned authenticator.
        raise PasskeyError(str(error)) from error
    passkey.sign_count = verified.new_sign_count
    passkey.last_used_at = now()
    return passkey
