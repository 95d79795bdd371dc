"""Flask-Mail, with what it lacks: a timeout, errors that name their cause, and the console
in development.

Flask-Mail connects with no timeout (pallets-eco/flask-mail#114): a mail server that never
answers would hold the request, and the worker, for minutes. With no MAIL_SERVER set, the
development server writes each message to the log instead; elsewhere sending fails, so a
production app never pretends to have sent a password-reset link.
"""

import smtplib
from types import TracebackType

import flask_mail
from flask import current_app

from . import tracing


class MailNotConfigured(OSError):
    """MAIL_SERVER is not set, outside development."""


class Connection(flask_mail.Connection):
    def configure_host(self) -> smtplib.SMTP:
        """Flask-Mail's own connection set-up, with MAIL_TIMEOUT on the socket."""
        smtp = smtplib.SMTP_SSL if self.mail.use_ssl else smtplib.SMTP
        host = smtp(self.mail.server, self.mail.port, timeout=current_app.config["MAIL_TIMEOUT"])
        host.set_debuglevel(int(self.mail.debug))
        if self.mail.use_tls:
            host.starttls()
        if self.mail.username and self.mail.password:
            host.login(self.mail.username, self.mail.password)
        return host

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Flask-Mail's QUIT, but not after an error: on a connection that timed out it raises
        "please run connect() first", which would hide the real cause from the logs."""
        if self.host is None:
            return
        if exc_type is None:
            self.host.quit()
        else:
            self.host.close()


class Mail(flask_mail.Mail):
    def connect(self) -> Connection:
        return Connection(current_app.extensions["mail"])

    def send(self, message: flask_mail.Message) -> None:
        """Send `message`; raises OSError (smtplib's errors included) when it cannot."""
        if current_app.config["MAIL_SERVER"]:
            config = current_app.config
            server = {"server.address": config["MAIL_SERVER"], "server.port": config["MAIL_PORT"]}
            with tracing.span("smtp send", "client", server):
                return super().send(message)
        if not current_app.debug:
            raise MailNotConfigured("MAIL_SERVER is not set: cannot send mail")
        current_app.logger.info(
            "MAIL_SERVER is not set: this mail was not sent.\nTo: %s\nSubject: %s\n\n%s",
            ", ".join(map(str, message.recipients)),
            message.subject,
            message.body,
        )
