"""Links in mails cannot be pointed at another site: the finding, replayed against Gunicorn.

Reached directly (Swarm published Gunicorn on 8000; a proxy that passes any Host; the
development server), `Host: evil.example` or `X-Forwarded-Host: evil.example` on the
forgot-password form used to mail `https://evil.example/auth/reset-password/<a valid token>`.
Production now builds links from BASE_URL and answers only its trusted hosts.
"""

import http.cookiejar
import re
import secrets
import subprocess
import time
import urllib.error
import urllib.request
from urllib.parse import urlencode

import pytest

import servers
from conftest import clean_env

pytestmark = pytest.mark.e2e

BASE_URL = "https://app.example.com"
ADDRESS = "ada@example.com"
CREATE_USER = """
from my_flask_app import create_app
from my_flask_app.extensions import db
from my_flask_app.models import User
with create_app().app_context():
    user = User(username="ada", email="ada@example.com", email_verified=True)
    user.set_password("correct horse battery")
    db.session.add(user)
    db.session.commit()
"""


@pytest.fixture(scope="module")
def site(bake_once, baked_python, tmp_path_factory):
    """Gunicorn (production settings, as behind nginx: TRUSTED_PROXIES=1) with a user, and
    the SMTP server it mails through; yields (server, mailbox)."""
    project = bake_once()
    folder = tmp_path_factory.mktemp("mail-links")
    with servers.smtp() as mailbox:
        env = clean_env(
            APP_CONFIG="production",
            SECRET_KEY=secrets.token_hex(32),
            DATABASE_URL=f"sqlite:///{folder / 'app.sqlite'}",
            BASE_URL=BASE_URL,
            TRUSTED_PROXIES="1",
            SESSION_COOKIE_SECURE="0",  # plain HTTP to Gunicorn: the cookie must come back
            MAIL_SERVER="127.0.0.1",
            MAIL_PORT=str(mailbox.port),
        )
        flask = [str(baked_python.parent / "flask"), "db", "upgrade"]
        subprocess.run(flask, cwd=project, env=env, check=True, capture_output=True, timeout=120)
        subprocess.run(
            [str(baked_python), "-c", CREATE_USER], cwd=project, env=env, check=True, timeout=60
        )
        with servers.gunicorn(project, baked_python, env, workers=1) as server:
            yield server, mailbox


def forgot_password(server, **headers):
    """Ask for a reset link as a browser would (form, cookie, CSRF token), with `headers`
    on the form's submission; returns its status."""
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    url = f"{server.url}/auth/forgot-password"
    with opener.open(url, timeout=10) as page:
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.read().decode())[1]
    form = urlencode({"csrf_token": token, "email": ADDRESS}).encode()
    try:
        with opener.open(urllib.request.Request(url, form, headers), timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


def links(mailbox):
    bodies = [mail.get_body(("plain",)).get_content() for mail in mailbox.messages]
    return [re.search(r"https?://\S+", body)[0] for body in bodies]


@pytest.mark.parametrize(
    "headers",
    [{"Host": "evil.example"}, {"X-Forwarded-Host": "evil.example"}],
    ids=["Host", "X-Forwarded-Host"],
)
def test_a_request_naming_another_host_is_refused_and_mails_nothing(site, headers):
    server, mailbox = site
    before = len(mailbox.messages)
    assert forgot_password(server, **headers) == 400
    time.sleep(2)  # the mail would be sent from a thread after the answer
    assert len(mailbox.messages) == before


def test_the_link_starts_with_base_url_whatever_host_asked(site):
    """Through nginx the Host is the site's name; Gunicorn's own address is trusted too (the
    health checks ask it): either way the link names BASE_URL."""
    server, mailbox = site
    for count, host in enumerate(["app.example.com", f"127.0.0.1:{server.port}"], start=1):
        assert forgot_password(server, Host=host) == 200
        mailbox.wait_for(ADDRESS, "reset", count=count)
    assert links(mailbox)
    for link in links(mailbox):
        assert link.startswith(f"{BASE_URL}/auth/reset-password/"), link
