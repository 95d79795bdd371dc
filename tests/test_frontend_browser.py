"""The baked app's pages in Debian's Chromium: axe-core finds no accessibility violation on
any page, in light and dark mode; no page asks any origin but the site's own, nor breaks its
Content-Security-Policy (Trusted Types included); the htmx parts (live search, page links,
forms' errors in place) work under Trusted Types, which refuse a page script's plain string;
and everything works with JavaScript switched off.

The site is test_browser.py's (Gunicorn behind the shipped nginx site, over HTTPS); axe-core
comes from npm (installed into .cache/axe-core/ on first use) and is run in the page through
the DevTools protocol, which the site's Content-Security-Policy does not restrict.
"""

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from browser import enrol_totp
from conftest import TEMPLATE
from pages import ADMIN, PAGES, PASSWORD, make_users
from servers import missing
from test_browser import (  # noqa: F401  (fixtures)
    CHROMIUM,
    CHROMIUM_FLAGS,
    public_key_pin,
    served_app,
    site_settings,
    sync_playwright,
)

pytestmark = pytest.mark.e2e

AXE_VERSION = "4.14.1"
AXE = TEMPLATE / ".cache" / "axe-core"
# WCAG 2.2 A and AA, and axe's best practices (landmarks, headings, regions...).
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]


def axe_source():
    script = AXE / "node_modules" / "axe-core" / "axe.min.js"
    if not script.exists():
        npm = shutil.which("npm")
        if npm is None:
            missing("npm is not installed (Debian package npm)")
        AXE.mkdir(parents=True, exist_ok=True)
        command = [npm, "install", "--no-audit", "--no-fund", f"axe-core@{AXE_VERSION}"]
        subprocess.run(command, cwd=AXE, check=True, stdout=sys.stderr)
    return script.read_text()


@pytest.fixture
def browser(served_app, tmp_path):  # noqa: F811  (the fixture imported above)
    """Debian's headless Chromium, trusting the site's certificate."""
    if not Path(CHROMIUM).exists():
        missing(f"{CHROMIUM} is not installed (Debian package chromium)")
    if sync_playwright is None:
        missing("the playwright package is not installed")
    # TMPDIR holds Chromium's singleton socket, whose path may have at most 107 bytes: a short
    # folder of this test's, not tmp_path (long with a long test name), removed after it.
    with (
        tempfile.TemporaryDirectory(prefix="chromium-") as browser_tmp,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            env={"TMPDIR": browser_tmp, "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
            args=[
                *CHROMIUM_FLAGS,
                f"--ignore-certificate-errors-spki-list={public_key_pin(served_app.certificate)}",
            ],
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def site(served_app):  # noqa: F811
    make_users(served_app.flask)
    return served_app


def log_in(page, site, who="admin"):
    """Log a viewer of PAGES in. Administrators need a second factor for /admin: the first
    login turns on an authenticator app, later ones give one of its recovery codes; "second
    step" stops before it. "ada" has no second factor."""
    page.goto(f"{site.url}/auth/login")
    page.wait_for_load_state("networkidle")  # the passkey autofill's request, first
    page.fill("input[name=username]", "ada" if who == "ada" else ADMIN)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.click("main button[type=submit]")
    if who != "admin":
        return
    if page.url.endswith("/auth/second-factor"):
        page.fill("input[name=code]", site.recovery_codes.pop())
        with page.expect_navigation():
            page.click("main button[type=submit]")
    elif not getattr(site, "recovery_codes", None):
        page.goto(f"{site.url}/auth/account")
        _, site.recovery_codes = enrol_totp(page)
        page.goto(f"{site.url}/")


# Every CSP violation of a document (Trusted Types' included), as the page's own scripts see
# them: recorded from the first script on, read with violations(page).
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => window.__violations.push(
  `${e.effectiveDirective}: ${e.blockedURI} ${e.sample} (${e.sourceFile}:${e.lineNumber})`
), true);
"""


def violations(page):
    return page.evaluate("window.__violations")


def audit(page, source):
    """axe-core's violations on the page: [(rule id, impact, [target selectors])]."""
    page.evaluate(source)
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", AXE_TAGS
    )
    return [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:5]) for v in result["violations"]
    ]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_no_page_has_an_accessibility_violation_or_asks_another_origin(site, browser, scheme):
    source = axe_source()
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(site.url))
    found, elsewhere, refused = {}, [], {}
    for who in dict.fromkeys(who for _, who in PAGES):  # the administrator before the step
        context = browser.new_context(color_scheme=scheme, viewport={"width": 390, "height": 844})
        context.add_init_script(RECORD_VIOLATIONS)
        page = context.new_page()
        page.on(
            "request",
            lambda request: (
                elsewhere.append(request.url)
                if not request.url.startswith((origin + "/", "data:"))
                else None
            ),
        )
        if who:
            log_in(page, site, who)
        for path, viewer in PAGES:
            if viewer != who:
                continue
            if "#" in path:
                page.goto("about:blank")  # a new document, not a jump within the last one
            page.goto(site.url + path)
            if "#/" in path:  # Swagger UI: wait until it has drawn the operations
                page.wait_for_selector(".opblock")
            page.wait_for_load_state("networkidle")
            if violations(page):  # before axe-core, which is no script of the page's
                refused[f"{path} ({who or 'visitor'})"] = violations(page)
            found_here = audit(page, source)
            if found_here:
                found[f"{path} ({who or 'visitor'})"] = found_here
        context.close()
    assert not found, json.dumps(found, indent=1)
    assert elsewhere == []
    assert not refused, json.dumps(refused, indent=1)


# A page script handing HTML strings to the DOM's sinks: each answer is "allowed" or the
# error the browser threw.
SINKS = """() => Object.entries({
  innerHTML: () => { document.querySelector("main").innerHTML = "<img src=x>"; },
  insertAdjacentHTML: () => document.body.insertAdjacentHTML("beforeend", "<b>x</b>"),
  DOMParser: () => new DOMParser().parseFromString("<b>x</b>", "text/html"),
  scriptSrc: () => { document.createElement("script").src = "/static/x.js"; },
}).map(([sink, write]) => {
  try { write(); return [sink, "allowed"]; } catch (error) { return [sink, error.name]; }
})"""


def test_htmx_updates_the_admin_search_pages_and_form_errors_in_place(site, browser):
    """Under Trusted Types, as served: static/trusted-types.js lets htmx's swaps through, and
    nothing else."""
    context = browser.new_context()
    context.add_init_script(RECORD_VIOLATIONS)
    page = context.new_page()
    log_in(page, site)
    page.goto(f"{site.url}/admin/users")
    loads = []
    page.on("load", lambda: loads.append(page.url))  # a whole page loaded: none expected
    page.fill("input[name=q]", "ada")  # no click: the results follow the typing
    page.wait_for_selector("#results >> text=1 account found")
    assert page.url == f"{site.url}/admin/users?q=ada"
    page.goto(f"{site.url}/auth/change-password")
    loads.clear()
    page.fill("input[name=password]", "short")
    page.click("main button[type=submit]")
    page.wait_for_selector("[aria-invalid=true]")
    assert page.url == f"{site.url}/auth/change-password" and loads == []
    assert violations(page) == []

    # Where the CSP requires Trusted Types (every page but Swagger UI's), a string a page
    # script gives innerHTML and the like is refused and reported; Swagger UI's page allows it.
    response = page.goto(f"{site.url}/")
    assert "require-trusted-types-for 'script'" in response.headers["content-security-policy"]
    assert dict(page.evaluate(SINKS)) == dict.fromkeys(
        ["innerHTML", "insertAdjacentHTML", "DOMParser", "scriptSrc"], "TypeError"
    )
    page.wait_for_function("window.__violations.length >= 4")
    reported = [line.split(":")[0] for line in violations(page)]
    assert reported == ["require-trusted-types-for"] * 4
    assert page.evaluate("trustedTypes.defaultPolicy.name") == "default"
    # No second policy: `trusted-types default` names the only one.
    refused = page.evaluate(
        "() => { try { trustedTypes.createPolicy('mine', {}); return 'made' }"
        " catch (error) { return error.name } }"
    )
    assert refused == "TypeError"
    page.goto("about:blank")
    page.goto(f"{site.url}/api/docs#/users")
    page.wait_for_selector(".opblock")
    assert violations(page) == []
    assert set(dict(page.evaluate(SINKS)).values()) == {"allowed"}
    context.close()


def test_every_part_works_without_javascript(site, browser):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    log_in(page, site)
    assert page.inner_text("nav >> a >> nth=0") == ADMIN
    page.goto(f"{site.url}/admin/users")
    page.fill("input[name=q]", "ada")
    with page.expect_navigation():
        page.click("main form.search button")
    assert page.url == f"{site.url}/admin/users?q=ada"
    assert "1 account found" in page.inner_text("#results")
    page.click("main table a:text-is('ada')")
    with page.expect_navigation():
        page.click("main button:has-text('Disable')")  # no confirmation without htmx
    assert "ada is disabled" in page.inner_text(".flash")
    page.goto(f"{site.url}/auth/change-password")
    with page.expect_navigation():
        page.click("main button[type=submit]")
    assert page.locator("[aria-invalid=true]").count() >= 1
    context.close()
