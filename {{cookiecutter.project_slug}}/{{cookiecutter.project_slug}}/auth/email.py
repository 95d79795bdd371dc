"""The mails of the accounts, each from a text template under templates/email/."""

from __future__ import annotations

import smtplib
from typing import Any

from flask import current_app, render_template, url_for
from flask_limiter.util import get_remote_address
from flask_mail import Message

from .. import jobs, ratelimit
from ..extensions import db, mail
from ..models import User
from . import tokens


def message(to: str | None, subject: str, template: str, **context: Any) -> Message:
    if to is None:
        raise ValueError("this account has no email address")
    body = render_template(f"email/{template}.txt", **context)
    return Message(f"{current_app.config['APP_NAME']}: {subject}", recipients=[to], body=body)


def within_limits(mail_message: Message) -> bool:
    """Count the mail against its address's limit and the client's: no loop of sign-ups,
    logins or resets, from one client or many, fills someone's mailbox. False when spent."""
    limits = [
        ("MAIL_ADDRESS_RATE_LIMIT", str(mail_message.recipients[0])),
        ("MAIL_CLIENT_RATE_LIMIT", get_remote_address()),
    ]
    if all(ratelimit.within(setting, key) for setting, key in limits):
        for setting, key in limits:
            ratelimit.count(setting, key)
        return True
    current_app.logger.warning("mail to %s not sent: over a limit", mail_message.recipients)
    return False


def send(mail_message: Message, user: User) -> bool:
    """Queue the mail (see jobs); False (and the reason in the log) when a limit refuses it,
    or, with no queue, when the mail server does. It goes only if `user` still has the same
    address when the worker runs it."""
    if not within_limits(mail_message):
        return False
    message_parts = (mail_message.recipients, mail_message.subject, mail_message.body)
    return jobs.enqueue(deliver, *message_parts, user.id, user.email)


def deliver(
    recipients: list[str | tuple[str, str]],
    subject: str,
    body: str,
    user_id: int | None = None,
    address: str | None = None,
) -> None:
    """The job: send one mail, unless its account was deleted or changed its address since it
    was queued (its links would be dead, or reach the wrong person). A refusal (5xx) fails at
    once with the server's reply; other errors and timeouts raise, and it is tried again."""
    if user_id is not None:
        user = db.session.get(User, user_id)
        if user is None or user.email != address:
            current_app.logger.info(
                "mail %r not sent: account %s was deleted or changed its address since",
                subject,
                user_id,
            )
            return
    try:
        mail.send(Message(subject, recipients=recipients, body=body))
    except smtplib.SMTPRecipientsRefused as refused:  # every recipient: one here
        code, reply = next(iter(refused.recipients.values()))
        if code >= 500:
            raise jobs.PermanentFailure(f"mail server refused: {code} {text(reply)}") from refused
        raise
    except smtplib.SMTPResponseException as error:
        if error.smtp_code >= 500:
            answer = f"{error.smtp_code} {text(error.smtp_error)}"
            raise jobs.PermanentFailure(f"mail server refused: {answer}") from error
        raise


def text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else reply


def external_url(endpoint: str, **values: Any) -> str:
    """A link for a mail: BASE_URL's when set, never the Host of the request that asked."""
    base: str | None = current_app.config["BASE_URL"]
    if base:
        return base + url_for(endpoint, **values)
    return url_for(endpoint, **values, _external=True)  # development: the request's own


def send_verification(user: User, address: str | None = None) -> bool:
    """Mail a link that verifies `address` (by default the account's own); False on failure."""
    address = address or user.email
    link = external_url("auth.verify_email", token=tokens.email_token(user, address))
    hours = current_app.config["EMAIL_TOKEN_MAX_AGE"] // 3600
    changing = address != user.email
    return send(
        message(
            address,
            "verify your email address",
            "verify",
            user=user,
            link=link,
            hours=hours,
            changing=changing,
        ),
        user,
    )


def send_account_exists(user: User) -> bool:
    """Tell the owner of an address that someone signed up with it (the page says nothing)."""
    login = external_url("auth.login")
    reset = external_url("auth.forgot_password")
    mail_message = message(
        user.email, "your account", "exists", user=user, login=login, reset=reset
    )
    return send(mail_message, user)


def send_password_reset(user: User) -> bool:
    """Mail a password-reset link."""
    link = external_url("auth.reset_link", token=tokens.reset_token(user))
    minutes = current_app.config["RESET_TOKEN_MAX_AGE"] // 60
    return send(
        message(user.email, "reset your password", "reset", user=user, link=link, minutes=minutes),
        user,
    )


def send_factor_changed(user: User, factor: str, added: bool, by_admin: bool = False) -> bool:
    """Tell the user a way to sign in was added or removed, so that a change they did not
    make does not go unnoticed."""
    return send(
        message(
            user.email,
            f"a sign-in factor was {'added' if added else 'removed'}",
            "factor",
            user=user,
            factor=factor,
            added=added,
            by_admin=by_admin,
            account=external_url("auth.account"),
        ),
        user,
    )
