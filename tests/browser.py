"""A browser-like HTTP client for the end-to-end tests, on urllib.

It keeps cookies as a browser does (a Secure one only over HTTPS), trusts the certificate it
is given, sends the page a form came from as Referer (Flask-WTF checks it over HTTPS), and
shows each response as it is, redirects included.
"""

import http.cookiejar
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlencode


class NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args):
        return None


@dataclass
class Response:
    status: int
    headers: object  # http.client.HTTPMessage
    body: bytes

    @property
    def text(self):
        return self.body.decode()


class Browser:
    def __init__(self, base_url, ssl_context=None):
        self.base_url = base_url
        self.ssl_context = ssl_context
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.cookies),
            urllib.request.HTTPSHandler(context=ssl_context),
            NoRedirects,
        )
        self.page_url = None  # the last page loaded, whose form a POST submits

    def request(self, path, form=None, headers=None, base_url=None):
        data = None if form is None else urlencode(form).encode()
        url = (base_url or self.base_url) + path
        headers = dict(headers or {})
        if form is None:
            self.page_url = url
        elif self.page_url:
            headers.setdefault("Referer", self.page_url)
        request = urllib.request.Request(url, data=data, headers=headers)
        try:
            with self.opener.open(request, timeout=20) as response:
                return Response(response.status, response.headers, response.read())
        except urllib.error.HTTPError as error:
            return Response(error.code, error.headers, error.read())

    def csrf_token(self, path):
        """The CSRF token of the first form on a page."""
        page = self.request(path)
        assert page.status == 200, page.status
        return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text)[1]

    def submit(self, path, **fields):
        """Load the form's page, then post it with its CSRF token, as a person would."""
        return self.request(path, {"csrf_token": self.csrf_token(path), **fields})


def signed_in_as(page):
    """The user name the page header shows, or None for a visitor."""
    match = re.search(r'<a href="/users/\d+">([^<]+)</a>', page.text)
    return match[1] if match else None


def totp_code(secret, moment=None, digits=6, interval=30):
    """An authenticator app's code (RFC 6238, SHA-1) for a base32 secret, now or at `moment`."""
    import base64
    import hashlib
    import hmac
    import struct
    import time

    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    step = int((time.time() if moment is None else moment) // interval)
    digest = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(number % 10**digits).zfill(digits)


def enrol_totp(page):
    """From the account page, turn on an authenticator app with the key the QR page shows,
    as a person typing it into their app would; returns (secret, recovery codes)."""
    import time

    page.click("main >> text=Add an authenticator app")
    assert page.locator("main figure svg").count() == 1  # the QR code, inline
    secret = page.inner_text("[data-totp-secret]").strip()
    # The code of the step before: the app's current code stays free for the next login.
    page.fill("input[name=code]", totp_code(secret, time.time() - 30))
    page.click("main button[type=submit]")
    page.wait_for_selector("[data-recovery-codes] code")  # htmx swaps the answer in
    codes = page.locator("[data-recovery-codes] code").all_inner_texts()
    assert len(codes) == 10, page.inner_text("main")
    return secret, codes
