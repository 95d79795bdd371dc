"""The baked app in a real browser: sign up, verify the address, log in, reset a forgotten
password and log out, through its forms and the mails it sends; and an administrator's walk
through the admin area.

Gunicorn serves a baked project (production settings, Secure cookies) behind its nginx site
on free loopback ports, over HTTPS with a certificate made by the baked README's command,
sending mail to an SMTP server on loopback; Debian's headless Chromium, told to trust that
certificate's key, and driven by Playwright, uses the pages as a person would. Every page must
have the stylesheet applied and log no console errors, so a page that breaks the
Content-Security-Policy fails here. Screenshots go to the test's temporary folder (the READMEs'
come from benchmarks/screenshots.py).
"""

import base64
import hashlib
import os
import re
import secrets
import ssl
import subprocess
import tempfile
import urllib.request
from pathlib import Path

import pytest

from browser import Browser, enrol_totp
from browser import signed_in_as as page_signed_in_as
from conftest import clean_env
from servers import free_port, gunicorn, missing, nginx, smtp

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # skipped below, or failed under CI
    sync_playwright = None

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.e2e


@pytest.fixture
def site_settings():
    """Settings of the served app beyond the defaults (a test may parametrize this)."""
    return {}


@pytest.fixture
def served_app(bake, run_in_project, baked_python, tmp_path, site_settings):
    """A default bake, migrated, served by Gunicorn behind nginx over HTTPS on loopback."""
    project = bake()
    port = free_port()  # BASE_URL names it: passkeys accept only the site's own origin
    env = {
        "APP_CONFIG": "production",
        "SECRET_KEY": secrets.token_hex(32),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'app.sqlite'}",
        "TRUSTED_PROXIES": "1",
        "BASE_URL": f"https://localhost:{port}",
        **site_settings,
    }
    migrated = run_in_project(project, "flask", "db", "upgrade", env=env)
    assert migrated.returncode == 0, migrated.stderr
    with (
        smtp() as mailbox,
        gunicorn(
            project,
            baked_python,
            clean_env(**env, MAIL_SERVER="127.0.0.1", MAIL_PORT=str(mailbox.port)),
            workers=1,
        ) as app_server,
        nginx(project, [app_server.address], port=port) as proxy,
    ):
        proxy.mail = mailbox
        proxy.flask = lambda *args: run_in_project(project, "flask", *args, env=env)
        yield proxy


@pytest.fixture
def console_errors():
    """Console errors and uncaught exceptions of the page, in order."""
    return []


def public_key_pin(certificate):
    """base64(SHA-256(SubjectPublicKeyInfo)): how Chromium names a key it should trust."""
    der = ssl.PEM_cert_to_DER_cert(certificate.read_text())
    key = subprocess.run(
        ["openssl", "x509", "-inform", "DER", "-noout", "-pubkey"],
        input=der,
        capture_output=True,
        check=True,
    ).stdout
    command = ["openssl", "pkey", "-pubin", "-outform", "DER"]
    spki = subprocess.run(command, input=key, capture_output=True, check=True).stdout
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


@pytest.fixture
def page(served_app, tmp_path, console_errors):
    """A page of a fresh headless Chromium profile, trusting the site's certificate, that
    records console errors."""
    if not CHROMIUM.exists():
        missing(f"{CHROMIUM} is not installed (Debian package chromium)")
    if sync_playwright is None:
        missing("the playwright package is not installed")
    # Chromium leaves its singleton socket's folder (org.chromium.Chromium.*) in TMPDIR: a
    # folder of this test's, removed after it (short: a socket's path has at most 107 bytes).
    with (
        tempfile.TemporaryDirectory(prefix="chromium-") as browser_tmp,
        sync_playwright() as playwright,
    ):
        context = playwright.chromium.launch_persistent_context(
            tmp_path / "profile",
            executable_path=CHROMIUM,
            env={**os.environ, "TMPDIR": browser_tmp},
            headless=True,
            args=[
                *CHROMIUM_FLAGS,
                f"--ignore-certificate-errors-spki-list={public_key_pin(served_app.certificate)}",
            ],
            viewport={"width": 960, "height": 600},
        )
        page = context.new_page()

        def record(message):
            if message.type == "error":
                console_errors.append(f"{message.text} ({message.location['url']})")

        page.on("console", record)
        page.on("pageerror", lambda error: console_errors.append(str(error)))
        try:
            yield page
        finally:
            context.close()


def assert_styled(page):
    """style.css is loaded and applies: the header takes its accent colour."""
    sheets, header, accent = page.evaluate(
        """() => [
            [...document.styleSheets].map(s => [new URL(s.href).pathname, s.cssRules.length]),
            getComputedStyle(document.querySelector('.site-header')).backgroundColor,
            getComputedStyle(document.documentElement).getPropertyValue('--accent').trim(),
        ]"""
    )
    ((path, rules),) = sheets
    assert path == "/static/style.css" and rules > 0
    red, green, blue = (int(accent[i : i + 2], 16) for i in (1, 3, 5))
    assert header == f"rgb({red}, {green}, {blue})"


@pytest.fixture
def screenshot(page, tmp_path):
    """Save a screenshot of the page under the test's temporary folder."""

    def take(name):
        path = tmp_path / f"{name}.png"
        page.screenshot(path=path)
        return path

    return take


def submit(page, **fields):
    """Fill a form and send it; returns when the next page has loaded. htmx posts the form and,
    the server having accepted it, the browser loads the page the answer names (HX-Redirect)."""
    for name, value in fields.items():
        page.fill(f"input[name={name}]", value)
    with page.expect_navigation():
        page.click("main button[type=submit]")


def signed_in_as(site, cookies):
    """The user name the home page shows to a client sending only `cookies`, or None."""
    header = "; ".join(f"{c['name']}={c['value']}" for c in cookies)
    request = urllib.request.Request(f"{site.url}/", headers={"Cookie": header})
    with urllib.request.urlopen(request, timeout=10, context=site.ssl_context()) as response:
        match = re.search(r'<a href="/users/\d+">([^<]+)</a>', response.read().decode())
    return match[1] if match else None


def test_sign_up_verify_log_in_reset_and_log_out(served_app, page, console_errors, screenshot):
    base, mail = served_app.url, served_app.mail
    page.goto(f"{base}/")
    assert page.title() == "Home · My Flask App"
    assert_styled(page)

    page.click("nav >> text=Register")
    assert page.url.endswith("/auth/register")
    assert_styled(page)
    submit(
        page,
        username="ada",
        email="ada@example.com",
        password="correct horse battery",
        confirm="correct horse battery",
    )
    assert page.url.endswith("/auth/login")
    assert "Open the link we have sent to ada@example.com" in page.inner_text(".flash")
    screenshot("signed-up")

    page.goto(base + mail.link("ada@example.com", "verify"))
    assert page.url.endswith("/auth/login")
    assert "Your email address ada@example.com is verified." in page.inner_text(".flash")
    assert_styled(page)
    screenshot("login")

    page.fill("input[name=username]", "ada")
    page.fill("input[name=password]", "correct horse battery")
    page.check("input[name=remember]")
    with page.expect_navigation():
        page.click("main button[type=submit]")
    assert page.url == f"{base}/"
    assert "Welcome back, ada." in page.inner_text("main")
    assert page.inner_text("nav >> a >> nth=0") == "ada"
    screenshot("home-logged-in")
    copied = {c["name"]: c for c in page.context.cookies()}
    for name in ("session", "remember_token"):
        assert signed_in_as(served_app, [copied[name]]) == "ada"

    page.click("nav >> text=Account")
    assert "ada@example.com" in page.inner_text("main")
    assert_styled(page)
    screenshot("account")

    page.goto(f"{base}/auth/forgot-password")  # as on a device where ada is logged out
    submit(page, email="ada@example.com")
    assert "If an account has that email address" in page.inner_text(".flash")
    screenshot("forgot-password")
    page.goto(base + mail.link("ada@example.com", "reset"))
    assert_styled(page)
    submit(page, password="a brand new password", confirm="a brand new password")
    assert page.url.endswith("/auth/login")
    assert "Your password has been changed" in page.inner_text(".flash")
    screenshot("password-reset")
    for name in ("session", "remember_token"):
        assert signed_in_as(served_app, [copied[name]]) is None

    submit(page, username="ada", password="a brand new password")
    assert page.url == f"{base}/"
    page.click("nav >> text=Log out")
    assert page.url == f"{base}/"
    assert "You have been logged out" in page.inner_text(".flash")
    assert page.is_visible("nav >> text=Log in")
    assert_styled(page)

    assert console_errors == []


def test_an_administrator_disables_a_user_whose_copied_session_dies(
    served_app, page, console_errors, screenshot
):
    base, password = served_app.url, "correct horse battery"
    for name, *options in [("root", "--admin"), ("bob",)]:
        address = f"{name}@example.com"
        made = served_app.flask("create-user", name, address, "--password", password, *options)
        assert made.returncode == 0, made.stderr
    bob = Browser(base, served_app.ssl_context())  # bob's own client, elsewhere
    assert bob.submit("/auth/login", username="bob", password=password).status == 302
    assert page_signed_in_as(bob.request("/")) == "bob"
    assert bob.request("/admin/users").status == 404  # not an administrator

    page.goto(f"{base}/auth/login")
    submit(page, username="root", password=password)
    page.click("nav >> text=Admin")
    # An administrator needs a second factor first (ADMIN_REQUIRES_SECOND_FACTOR).
    assert page.url == f"{base}/auth/account"
    assert "Add a passkey or an authenticator app" in page.inner_text(".flash")
    enrol_totp(page)
    page.click("nav >> text=Admin")
    assert page.url == f"{base}/admin/users"
    assert_styled(page)
    page.fill("input[name=q]", "bob")
    page.click("main form.search button")
    # htmx swaps the results in, and puts the search in the address bar
    page.wait_for_selector("#results >> text=1 account found")
    assert page.url == f"{base}/admin/users?q=bob"
    page.click("main table a:text-is('bob')")
    assert page.url.endswith("/admin/users/2")
    assert "may be open" in page.inner_text("main")
    screenshot("admin-user")

    confirmations = []  # hx-confirm asks with the browser's own dialog
    page.on("dialog", lambda dialog: (confirmations.append(dialog.message), dialog.accept()))
    with page.expect_navigation():
        page.click("main button:has-text('Disable')")
    assert "bob is disabled" in page.inner_text(".flash")
    assert page_signed_in_as(bob.request("/")) is None  # the copied session is over
    refused = bob.submit("/auth/login", username="bob", password=password)
    assert refused.status == 403 and "This account is disabled" in refused.text

    with page.expect_navigation():
        page.click("main button:has-text('Re-enable')")
    assert "bob can log in again" in page.inner_text(".flash")
    assert bob.submit("/auth/login", username="bob", password=password).status == 302
    with page.expect_navigation():
        page.click("main button:has-text('End its sessions')")
    assert page_signed_in_as(bob.request("/")) is None
    assert confirmations == [
        "Disable bob? Every session and token of the account ends.",
        "End every session and token of bob?",
    ]

    page.click("main >> text=Delete…")
    submit(page, username="bob")
    assert "The account bob is deleted" in page.inner_text(".flash")
    page.click("main nav >> text=Audit trail")
    assert_styled(page)
    rows = page.locator("main table tbody tr").all_inner_texts()
    actions = [row.split("\t")[1:4] for row in rows]
    assert actions == [
        ["root", "delete", "bob"],
        ["root", "end-sessions", "bob"],
        ["root", "enable", "bob"],
        ["root", "disable", "bob"],
    ]
    # nginx's request id (32 hex digits), the one its access log has for the same request
    assert all(re.fullmatch(r"[0-9a-f]{32}", row.split("\t")[4].strip()) for row in rows)
    screenshot("admin-audit")
    assert console_errors == []


def test_api_docs_load_under_the_sites_csp(served_app, page, console_errors, screenshot):
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    response = page.goto(f"{served_app.url}/api/docs")
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "unsafe-inline" not in policy
    # The page lists the operations at once and loads Swagger UI only when asked.
    assert page.locator("main table tbody tr").count() == 8
    page.wait_for_load_state("networkidle")
    assert not [url for url in requested if "swagger-ui" in url]
    screenshot("api-docs-summary")
    page.click("text=Open in Swagger UI")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "My Flask App API" in page.inner_text(".swagger-ui .info .title")
    page.wait_for_selector(".opblock")
    operations = page.locator(".opblock-summary-path").all_inner_texts()
    assert "/api/users/me" in operations
    assert len(page.locator(".opblock").all()) == 8
    screenshot("api-docs")
    assert console_errors == []


def test_a_link_into_swagger_ui_opens_it_at_once(served_app, page, console_errors):
    """Swagger UI's own links (#/tag, #/tag/operation) still work, without a click."""
    page.goto(f"{served_app.url}/api/docs#/users")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "/api/users/me" in page.locator(".opblock-summary-path").all_inner_texts()
    assert console_errors == []
