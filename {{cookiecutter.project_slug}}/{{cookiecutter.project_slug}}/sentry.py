"""Error tracking with Sentry, on when SENTRY_DSN is set.

Unhandled errors go to Sentry with the release, the environment and the request id as a tag
(to find the request's log lines), and no personal data: no cookies, client addresses or users.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, g, has_request_context

if TYPE_CHECKING:  # no import of the SDK without a DSN, not even for the types
    from sentry_sdk.types import Event, Hint


def init_app(app: Flask) -> None:
    dsn = app.config["SENTRY_DSN"]
    if not dsn:
        return
    # Imported only when used: web workers without a DSN start without it.
    import sentry_sdk
    from sentry_sdk.integrations.flask import FlaskIntegration

    from . import __version__

    sentry_sdk.init(
        dsn=dsn,
        release=f"{__package__}@{__version__}",
        environment=app.config["SENTRY_ENVIRONMENT"],
        # No personal data is the SDK's default (send_default_pii, now deprecated, stays unset):
        # a test checks that a visitor's cookies do not reach Sentry.
        integrations=[FlaskIntegration()],
        before_send=tag_request_id,
    )


def tag_request_id(event: Event, hint: Hint) -> Event:
    if has_request_context() and "request_id" in g:
        event.setdefault("tags", {})["request_id"] = g.request_id
    return event
