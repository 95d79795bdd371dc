#!/usr/bin/python3
"""Mailpit's two ports, for tests: SMTP on 1025 and a small JSON API on 8025.

`/mailpit` serves; `/mailpit readyz` exits 0 when the HTTP side answers.
"""

import json
import sys
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

MESSAGES = []


class KeepMessages:
    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        text = envelope.content.decode("utf-8", errors="replace")
        MESSAGES.append(
            {"From": envelope.mail_from, "To": envelope.rcpt_tos, "Size": len(text), "Text": text}
        )
        return "250 Message accepted for delivery"


class Api(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        if self.path == "/readyz":
            body = b"ok"
        elif self.path.startswith("/api/v1/messages"):
            body = json.dumps({"total": len(MESSAGES), "messages": MESSAGES}).encode()
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main():
    if sys.argv[1:] == ["readyz"]:
        with urllib.request.urlopen("http://127.0.0.1:8025/readyz", timeout=3):
            return
    smtp = Controller(KeepMessages(), hostname="0.0.0.0", port=1025)  # noqa: S104
    smtp.start()
    ThreadingHTTPServer(("0.0.0.0", 8025), Api).serve_forever()  # noqa: S104


if __name__ == "__main__":
    main()
