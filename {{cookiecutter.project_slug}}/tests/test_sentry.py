"""Sentry through the SDK's real HTTP transport, to a stand-in server on loopback."""

import gzip
import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sentry_sdk

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
    thread = threading.Thread(target=server.serve_forever, daemon=True)
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


def test_an_unhandled_error_reaches_sentry_with_the_request_id(sentry_server):
    dsn = f"http://public@127.0.0.1:{sentry_server.server_port}/1"
    app = create_app({"SENTRY_DSN": dsn, "PROPAGATE_EXCEPTIONS": False})

    @app.get("/fail")
    def fail():
        raise RuntimeError("an unhandled error")

    cookie = secrets.token_hex(16)  # made now, so the event's source context cannot hold it
    response = app.test_client().get("/fail", headers={"Cookie": f"session={cookie}"})
    assert response.status_code == 500
    sentry_sdk.flush(timeout=10)

    assert {path for path, _ in sentry_server.received} == {"/api/1/envelope/"}
    (event,) = events(sentry_server.received)
    assert event["exception"]["values"][-1]["value"] == "an unhandled error"
    assert event["tags"]["request_id"] == response.headers["X-Request-ID"]
    version = {{ cookiecutter.project_slug }}.__version__
    assert event["release"] == f"{{ cookiecutter.project_slug }}@{version}"
    assert event["environment"] == "testing"
    assert cookie.encode() not in sentry_server.received[0][1]  # no personal data
    assert "user" not in event


def test_no_dsn_no_sentry(app):
    assert not sentry_sdk.get_client().is_active()
