"""Error tracking with Sentry, on when SENTRY_DSN is set.

Unhandled errors go to Sentry with the release, the environment and the request id as a tag
(to find the request's log lines), and no personal data, whatever the SDK's version and its
defaults (SDK 3.0 sends the visitor's address unless told not to): the SDK is told to collect
none (`data_collection`, read by SDK 2.x and 3.x alike), and `scrub` removes from each event
what an SDK may still have put in it: the user, cookies, the body, headers but a few, the
WSGI environ and frames' local variables, and, anywhere else (a breadcrumb from a log line, a
message, the URL), the visitor's addresses and the values of its cookies, Authorization header
and URL parts (the token of a password-reset link).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from flask import Flask, g, has_request_context, request

from . import tracing

if TYPE_CHECKING:  # no import of the SDK without a DSN, not even for the types
    from sentry_sdk.types import Event, Hint

# The request headers an event keeps (names in lower case): none names or identifies anyone.
HEADERS = ("accept", "content-length", "content-type", "host", "user-agent", "x-request-id")
# Parts of an event dropped wherever they are: frames' local variables hold the WSGI environ
# (REMOTE_ADDR), the session and form data.
DROPPED_KEYS = {"vars"}
FILTERED = "[Filtered]"


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
        integrations=[FlaskIntegration()],
        data_collection={
            "user_info": False,
            "cookies": {"mode": "off"},
            "http_headers": {"request": {"mode": "allowlist", "terms": list(HEADERS)}},
            "http_bodies": [],
            "url_query_params": {"mode": "off"},
            "stack_frame_variables": False,
        },
        before_send=before_send,
    )


def before_send(event: Event, hint: Hint) -> Event:
    event = scrub(event)
    if has_request_context() and "request_id" in g:
        event.setdefault("tags", {})["request_id"] = g.request_id
    ids = tracing.current_ids()  # with traces on: the trace this error happened in
    if ids:
        trace_id, span_id = ids
        event.setdefault("tags", {})["trace_id"] = trace_id
        event.setdefault("contexts", {})["opentelemetry"] = {"trace_id": trace_id, "span": span_id}
    return event


def scrub(event: Event) -> Event:
    """The event without personal data (tests/test_sentry.py searches the whole envelope)."""
    data = cast("dict[str, Any]", event)
    data.pop("user", None)
    sent = data.get("request")
    if isinstance(sent, dict):
        headers = sent.get("headers") or {}
        data["request"] = {
            "url": sent.get("url"),
            "method": sent.get("method"),
            "headers": {k: v for k, v in headers.items() if k.lower() in HEADERS},
        }
    return cast("Event", redact(data, visitor_values()))


def visitor_values() -> list[str]:
    """What identifies the visitor of the current request or grants its access, longest first."""
    if not has_request_context():
        return []
    values = [request.remote_addr or "", *request.access_route]
    values += [*request.cookies.values(), request.headers.get("Authorization", "")]
    values += [str(value) for value in (request.view_args or {}).values()]
    return sorted({value for value in values if len(value) >= 3}, key=len, reverse=True)


def redact(value: Any, secrets: list[str]) -> Any:
    """A copy of the value with DROPPED_KEYS left out and each of `secrets` replaced."""
    if isinstance(value, dict):
        return {k: redact(v, secrets) for k, v in value.items() if k not in DROPPED_KEYS}
    if isinstance(value, list | tuple):
        return [redact(item, secrets) for item in value]
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, FILTERED)
    return value
