"""A real SMTP server on loopback (aiosmtpd) that keeps every mail it receives."""

import asyncio
import contextlib
import email
import email.policy
import re
import threading
import time
from dataclasses import dataclass, field

from .process import free_port, missing

try:
    from aiosmtpd.controller import Controller
except ImportError:  # skipped below, or failed under CI
    Controller = None


@dataclass
class Mailbox:
    """The SMTP server's address and the mails it has received, oldest first."""

    port: int
    messages: list = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)
    hold: float = 0  # seconds to keep each client waiting for the answer to RCPT TO
    asked: list = field(default_factory=list)  # every RCPT TO address, as it comes
    refused: set = field(default_factory=set)  # addresses answered 550, as a permanent error
    controller: object = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        """Accept every recipient, after `hold` seconds: a slow server, mid-conversation."""
        self.asked.append(address)
        await asyncio.sleep(self.hold)
        if address in self.refused:
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    def down(self):
        """Stop listening: connections are refused, as from a mail server that is down."""
        self.controller.stop()

    def up(self):
        """Listen again on the same port."""
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802  (aiosmtpd's name)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.arrived:
            self.messages.append(message)
            self.arrived.notify_all()
        return "250 Message accepted for delivery"

    def wait_for(self, to, about="", count=1, seconds=15):
        """The `count`-th mail to address `to` whose subject has `about`, waiting for it."""
        deadline = time.monotonic() + seconds
        with self.arrived:
            while True:
                mails = [m for m in self.messages if to in m["To"] and about in m["Subject"]]
                if len(mails) >= count:
                    return mails[count - 1]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no mail number {count} to {to} in {seconds} s")
                self.arrived.wait(left)

    def link(self, to, about="", count=1):
        """The path of the link in the `count`-th mail to `to` about `about`."""
        body = self.wait_for(to, about, count).get_body(("plain",)).get_content()
        match = re.search(r"https?://[^/\s]+(/\S+)", body)
        assert match, f"no link in {body!r}"
        return match[1]


@contextlib.contextmanager
def smtp():
    """An SMTP server on 127.0.0.1:<free port> in this process; stopped on the way out.

    Point the app at it with MAIL_SERVER=127.0.0.1 and MAIL_PORT=mailbox.port.
    """
    if Controller is None:
        missing("the aiosmtpd package is not installed")
    mailbox = Mailbox(free_port())
    mailbox.up()
    try:
        yield mailbox
    finally:
        mailbox.controller.stop(no_assert=True)  # also when a test left it down
