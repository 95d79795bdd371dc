"""The baked app in a real browser: sign up, log in and log out through its forms.

Gunicorn serves a baked project (production settings, Secure cookies) behind its nginx site
on free loopback ports, over HTTPS with a certificate made by the baked README's command;
Debian's headless Chromium, told to trust that certificate's key, and driven by Playwright,
uses the pages as a person would. Every page must have the stylesheet applied and log no
console errors, so a page that breaks the Content-Security-Policy fails here. Screenshots go
to tests/artifacts/; with UPDATE_SCREENSHOT=1 the login page also becomes
docs/screenshot.png for the README.
"""

import base64
import hashlib
import os
import secrets
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest

from conftest import TEMPLATE, clean_env
from servers import gunicorn, missing, nginx

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
ARTIFACTS = TEMPLATE / "tests" / "artifacts"
README_SCREENSHOT = TEMPLATE / "docs" / "screenshot.png"

pytestmark = pytest.mark.e2e


@pytest.fixture
def served_app(bake, run_in_project, baked_python, tmp_path):
    """A default bake, migrated, served by Gunicorn behind nginx over HTTPS on loopback."""
    project = bake()
    env = {
        "APP_CONFIG": "production",
        "SECRET_KEY": secrets.token_hex(32),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'app.sqlite'}",
        "TRUSTED_PROXIES": "1",
    }
    migrated = run_in_project(project, "flask", "db", "upgrade", env=env)
    assert migrated.returncode == 0, migrated.stderr
    with (
        gunicorn(project, baked_python, clean_env(**env), workers=1) as app_server,
        nginx(project, [app_server.address]) as proxy,
    ):
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
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            tmp_path / "profile",
            executable_path=CHROMIUM,
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


def screenshot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=path)
    return path


def submit(page, **fields):
    for name, value in fields.items():
        page.fill(f"input[name={name}]", value)
    page.click("input[type=submit]")


def test_sign_up_log_in_and_log_out(served_app, page, console_errors):
    page.goto(f"{served_app.url}/")
    assert page.title() == "Home · My Flask App"
    assert_styled(page)

    page.click("nav >> text=Register")
    assert page.url.endswith("/auth/register")
    assert_styled(page)
    submit(page, username="ada", password="correct horse battery", confirm="correct horse battery")
    assert page.url.endswith("/auth/login")
    assert "Your account is ready" in page.inner_text(".flash")
    assert_styled(page)
    login = screenshot(page, "login")
    if os.environ.get("UPDATE_SCREENSHOT"):
        README_SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(login, README_SCREENSHOT)

    submit(page, username="ada", password="correct horse battery")
    assert page.url == f"{served_app.url}/"
    assert "Welcome back, ada." in page.inner_text("main")
    assert page.inner_text("nav >> a >> nth=0") == "ada"
    screenshot(page, "home-logged-in")

    page.click("nav >> text=Log out")
    assert page.url == f"{served_app.url}/"
    assert "You have been logged out." in page.inner_text(".flash")
    assert page.is_visible("nav >> text=Log in")
    assert_styled(page)

    assert console_errors == []
