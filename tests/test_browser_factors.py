"""Second factors in a real browser, through the shipped HTTPS nginx site: a passkey made by
Chromium's virtual authenticator (the DevTools protocol's WebAuthn domain) signs in alone;
an authenticator app enrolled from the QR page's key logs in with a code; a recovery code
logs in once; a sensitive action after the fresh-check window asks again.

The fixtures are test_browser.py's (Gunicorn behind nginx, Debian's Chromium, Playwright),
imported by name, so the tests' arguments shadow them (F811).
"""
# ruff: noqa: F811

import time

import pytest

try:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
except ImportError:  # test_browser's page fixture says what is missing
    PlaywrightTimeout = TimeoutError

from browser import enrol_totp, totp_code
from test_browser import (  # noqa: F401  (fixtures)
    assert_styled,
    console_errors,
    page,
    served_app,
    site_settings,
    submit,
)

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery"


def make_user(site, name="ada"):
    made = site.flask("create-user", name, f"{name}@example.com", "--password", PASSWORD)
    assert made.returncode == 0, made.stderr


def log_in(page, base, name="ada"):
    page.goto(f"{base}/auth/login")
    # The page asks for passkey options at once (for the autofill); a person types for
    # longer than that takes, and a login in between would end the session it was asked in.
    page.wait_for_load_state("networkidle")
    submit(page, username=name, password=PASSWORD)


def log_out(page, base):
    page.click("nav >> text=Log out")
    assert page.url == f"{base}/"


def virtual_authenticator(page):
    """A platform authenticator with resident keys that verifies its user (as a fingerprint
    would), answering at once; no device needed."""
    devtools = page.context.new_cdp_session(page)
    devtools.send("WebAuthn.enable")
    added = devtools.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return devtools, added["authenticatorId"]


def test_a_passkey_registers_then_signs_in_alone(served_app, page, console_errors):
    base = served_app.url
    make_user(served_app)
    page.goto(f"{base}/auth/login")
    assert page.get_attribute("input[name=username]", "autocomplete") == "username webauthn"
    assert page.is_visible("main button[data-passkey=sign-in]")  # the script shows it
    assert_styled(page)
    devtools, authenticator = virtual_authenticator(page)
    log_in(page, base)
    page.goto(f"{base}/auth/account")
    page.fill("[data-passkey-name]", "Test laptop")
    with page.expect_navigation(url=f"{base}/auth/account"):
        page.click("main button[data-passkey=register]")
    assert "The passkey Test laptop is added" in page.inner_text(".flash")
    assert "Test laptop" in page.inner_text("main")
    credentials = devtools.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
    (credential,) = credentials["credentials"]
    assert credential["isResidentCredential"]
    assert served_app.mail.link("ada@example.com", "factor was added")
    log_out(page, base)

    # No username, no password. The login page asks for a passkey as soon as it loads, for
    # the username field's autofill (conditional mediation); the virtual authenticator, which
    # needs no touch, answers it at once, as a person picking the passkey there would. Where
    # a browser does not, the button does the same.
    page.goto(f"{base}/auth/login")
    try:
        page.wait_for_url(f"{base}/", timeout=10_000)
    except PlaywrightTimeout:
        page.click("main button[data-passkey=sign-in]")
        page.wait_for_url(f"{base}/")
    assert page.inner_text("nav >> a >> nth=0") == "ada"
    assert console_errors == []


def test_an_app_code_and_a_recovery_code_log_in(served_app, page, console_errors):
    base = served_app.url
    make_user(served_app)
    log_in(page, base)
    page.goto(f"{base}/auth/account")
    secret, codes = enrol_totp(page)
    log_out(page, base)

    log_in(page, base)
    assert page.url == f"{base}/auth/second-factor"
    assert_styled(page)
    submit(page, code=totp_code(secret))
    assert page.url == f"{base}/"
    assert page.inner_text("nav >> a >> nth=0") == "ada"
    log_out(page, base)

    log_in(page, base)
    submit(page, code=codes[0])
    assert page.url == f"{base}/"
    log_out(page, base)
    log_in(page, base)
    submit(page, code=codes[0])  # spent
    assert page.url == f"{base}/auth/second-factor"
    assert "That code is not right, or was used already." in page.inner_text("main")
    assert console_errors == []


@pytest.mark.parametrize("site_settings", [{"FRESH_CHECK_MINUTES": "0.1"}])
def test_a_sensitive_action_asks_again_after_the_window(served_app, page, console_errors):
    base = served_app.url
    make_user(served_app)
    log_in(page, base)
    page.goto(f"{base}/auth/change-password")
    assert page.url == f"{base}/auth/change-password"  # the login was a check
    time.sleep(7)  # FRESH_CHECK_MINUTES=0.1: six seconds
    page.goto(f"{base}/auth/change-password")
    assert page.url == f"{base}/auth/confirm?next=/auth/change-password"
    assert "Please confirm it is you" in page.inner_text(".flash")
    assert_styled(page)
    submit(page, password=PASSWORD)
    assert page.url == f"{base}/auth/change-password"
    assert console_errors == []
