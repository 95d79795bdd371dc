"""The mails of the accounts, each from a text template under templates/email/."""

import threading

from flask import current_app, render_template, url_for
from flask_mail import Message

from ..extensions import mail
from . import tokens


def message(to, subject, template, **context):
    body = render_template(f"email/{template}.txt", **context)
    return Message(f"{current_app.config['APP_NAME']}: {subject}", recipients=[to], body=body)


def send(mail_message):
    """Send now; False (and the reason in the log) when the mail server cannot take it."""
    try:
        mail.send(mail_message)
    except OSError as error:  # smtplib's errors and timeouts are OSErrors
        current_app.logger.error("could not send mail to %s: %s", mail_message.recipients, error)
        return False
    return True


def send_later(mail_message):
    """Send from a thread, so the page answers at once and the same way whatever happens."""
    app = current_app._get_current_object()

    def deliver():
        with app.app_context():
            send(mail_message)

    thread = threading.Thread(target=deliver, name="send-mail", daemon=True)
    thread.start()
    return thread


def external_url(endpoint, **values):
    """A link for a mail: BASE_URL's when set, never the Host of the request that asked."""
    base = current_app.config["BASE_URL"]
    if base:
        return base + url_for(endpoint, **values)
    return url_for(endpoint, **values, _external=True)  # development: the request's own


def send_verification(user, address=None):
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
        )
    )


def send_password_reset(user):
    """Mail a password-reset link in the background (see send_later)."""
    link = external_url("auth.reset_password", token=tokens.reset_token(user))
    minutes = current_app.config["RESET_TOKEN_MAX_AGE"] // 60
    return send_later(
        message(user.email, "reset your password", "reset", user=user, link=link, minutes=minutes)
    )
