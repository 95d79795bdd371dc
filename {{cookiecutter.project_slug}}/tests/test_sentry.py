"""Sentry through the SDK's real HTTP transport, to a stand-in server on loopback."""

import gzip
import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sentry_sdk
from flask import current_app, request

import {{ cookiecutter.project_slug }}
from {{ cookiecutter.project_slug }} import create_app


class Envelopes(BaseHTTPRequestHandler):
    """Keeps the body of every envelope posted to it, unpacked."""

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.server.received.append((self.path, body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def sentry_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Envelopes)
    server.received = []
    # shutdown() returns at the loop's next poll: every 0.05 s rather than the default 0.5 s.
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    sentry_sdk.get_client().close()
    sentry_sdk.get_global_scope().set_client(None)  # later tests run without Sentry
    server.shutdown()
    server.server_close()


def events(envelopes):
    """The error events inside the envelopes: each one a header line, then items."""
    found = []
    for _, body in envelopes:
        lines = body.split(b"\n")
        for header, payload in zip(lines[1::2], lines[2::2], strict=False):
            if json.loads(header).get("type") == "event":
                found.append(json.loads(payload))
    return found


VISITOR = "203.0.113.7"  # a documentation address (RFC 5737): not the test client's default


def test_an_unhandled_error_reaches_sentry_with_the_request_id(sentry_server):
    dsn = f"http://public@127.0.0.1:{sentry_server.server_port}/1"
    app = create_app({"SENTRY_DSN": dsn, "PROPAGATE_EXCEPTIONS": False})

    @app.post("/fail/<token>")
    def fail(token):
        form = request.form.to_dict()  # a local variable: Sentry must not send its values
        # A log line (SDK 2.x makes it a breadcrumb) and a breadcrumb of the view's own.
        current_app.logger.warning("visitor %s sent %d fields", request.remote_addr, len(form))
        sentry_sdk.add_breadcrumb(message=f"visitor {request.remote_addr} at {request.path}")
        raise RuntimeError("an unhandled error")

    # Made now, so that the event's source context cannot hold them.
    cookie, password, token, link = (secrets.token_hex(16) for _ in range(4))
    response = app.test_client().post(
        f"/fail/{link}",
        data={"password": password, "token": token},
        headers={"Cookie": f"session={cookie}", "Authorization": f"Bearer {token}"},
        environ_base={"REMOTE_ADDR": VISITOR},
    )
    assert response.status_code == 500
    sentry_sdk.flush(timeout=10)

    assert {path for path, _ in sentry_server.received} == {"/api/1/envelope/"}
    (event,) = events(sentry_server.received)
    assert event["exception"]["values"][-1]["value"] == "an unhandled error"
    assert event["tags"]["request_id"] == response.headers["X-Request-ID"]
    version = {{ cookiecutter.project_slug }}.__version__
    assert event["release"] == f"{{ cookiecutter.project_slug }}@{version}"
    assert event["environment"] == "testing"
    messages = [crumb.get("message") for crumb in event["breadcrumbs"]["values"]]
    assert "visitor [Filtered] at /fail/[Filtered]" in messages

    # No personal data anywhere in what reached Sentry: not the user, the request, the
    # breadcrumbs (the log line above), the frames' local variables nor anything else.
    sent = b"".join(body for _, body in sentry_server.received)
    for secret in (VISITOR, cookie, password, token, link):
        assert secret.encode() not in sent, secret
    assert "user" not in event
    assert b"ip_address" not in sent and b"REMOTE_ADDR" not in sent


def test_no_dsn_no_sentry(app):
    assert not sentry_sdk.get_client().is_active()
