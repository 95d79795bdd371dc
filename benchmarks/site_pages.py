"""A baked site served as in production, with an administrator and a few accounts, and the
list of its pages: what the screenshots, Lighthouse and axe-core go through.

A default bake, migrated, served by Gunicorn behind its own nginx site over HTTPS on loopback
(the tests' servers). `logged_in_cookies` logs the administrator in through the login form,
as a person would, and returns the cookies a browser would keep; `cookies_of` does the same
for each viewer of tests/pages.py.
"""

import contextlib
import re
import subprocess

from baked import scratch_project

import servers
from browser import Browser, totp_code
from pages import ACCOUNTS, ADMIN, ERROR_PAGES, PAGES, PASSWORD, QUICK_PAGES  # noqa: F401  (for the callers)

RECOVERY_CODE = r"<code>([A-Z2-7]{4}(?:-[A-Z2-7]{4}){3})</code>"


@contextlib.contextmanager
def served_site(prefix="site-"):
    """The site, its users made; yields the nginx server (its .url, .ssl_context())."""
    with scratch_project(prefix) as scratch:
        flask = scratch.python.parent / "flask"
        for name in [ADMIN, *ACCOUNTS]:
            options = ["--admin"] if name == ADMIN else []
            command = [flask, "create-user", name, f"{name}@example.com", "--password", PASSWORD]
            subprocess.run(
                [*command, *options],
                cwd=scratch.project,
                env=scratch.env,
                check=True,
                capture_output=True,
                timeout=60,
            )
        with (
            servers.gunicorn(
                scratch.project, scratch.python, {**scratch.env, "TRUSTED_PROXIES": "1"}
            ) as app,
            servers.nginx(scratch.project, [app.address]) as site,
        ):
            site.project = scratch.project
            yield site


def logged_in_cookies(site):
    """The administrator's cookies after the login form: [{name, value}].

    Administrators need a second factor for /admin: the first login turns on an
    authenticator app (from the key its page shows) and keeps the recovery codes; later
    logins give one of them at the second step.
    """
    client = Browser(site.url, site.ssl_context())
    answer = client.submit("/auth/login", username=ADMIN, password=PASSWORD)
    assert answer.status == 302, answer.status
    if answer.headers["Location"] == "/auth/second-factor":
        answer = client.submit("/auth/second-factor", code=site.recovery_codes.pop())
        assert answer.status == 302, answer.status
    else:
        page = client.request("/auth/totp")
        secret = re.search(r"data-totp-secret>([A-Z2-7]+)<", page.text)[1]
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text)[1]
        done = client.request("/auth/totp", {"csrf_token": token, "code": totp_code(secret)})
        assert done.status == 200, done.status
        site.recovery_codes = re.findall(RECOVERY_CODE, done.text)
    return [{"name": c.name, "value": c.value} for c in client.cookies]


def cookies_of(site, who):
    """The cookies of a viewer of PAGES: the administrator's (logged_in_cookies, made before),
    the administrator's after the password only ("second step"), or an account's ("ada")."""
    if who == "admin":
        return logged_in_cookies(site)
    client = Browser(site.url, site.ssl_context())
    name = ADMIN if who == "second step" else who
    answer = client.submit("/auth/login", username=name, password=PASSWORD)
    expected = "/auth/second-factor" if who == "second step" else "/"
    assert answer.status == 302 and answer.headers["Location"] == expected, answer.status
    return [{"name": c.name, "value": c.value} for c in client.cookies]
