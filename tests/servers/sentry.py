"""A stand-in for Sentry on loopback: it keeps the error events the SDK posts to it."""

import contextlib
import gzip
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class SentryStandIn(ThreadingHTTPServer):
    """Accepts envelopes at /api/<project>/envelope/ and keeps their error events."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), EnvelopeHandler)
        self.events = []
        self.paths = []

    @property
    def dsn(self):
        return f"http://public@127.0.0.1:{self.server_port}/1"


class EnvelopeHandler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        lines = body.split(b"\n")  # an envelope header, then item header and payload pairs
        for header, payload in zip(lines[1::2], lines[2::2], strict=False):
            if json.loads(header).get("type") == "event":
                self.server.events.append(json.loads(payload))
        self.server.paths.append(self.path)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def sentry():
    """A Sentry stand-in on 127.0.0.1:<free port>, serving from a thread of this process."""
    server = SentryStandIn()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
