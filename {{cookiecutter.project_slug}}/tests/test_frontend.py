"""The front end: the built stylesheet matches its source, the vendored htmx is the published
file, both stay within their size budgets, and htmx gets what it needs from the pages (its
configuration, the CSRF header, the parts it swaps) while every page works without it."""

import base64
import gzip
import hashlib
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_admin import log_in, make_user

STYLESHEET_BUDGET = 15 * 1024  # bytes, gzipped
HTMX_BUDGET = 20 * 1024
BOOSTED = {"HX-Request": "true", "HX-Boosted": "true"}  # what htmx sends with a boosted form


def static(app, name):
    return Path(app.static_folder, name)


def test_the_built_stylesheet_is_up_to_date(app, tmp_path):
    """static/style.css is what `flask assets build` makes of static/src/app.css and the
    templates now: after changing either, rebuild it and commit it with them."""
    fresh = tmp_path / "style.css"
    result = CliRunner().invoke(
        app.cli, ["assets", "build", "--output", str(fresh)], obj=None, catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    built = static(app, "style.css").read_text()
    assert built == fresh.read_text(), "static/style.css is stale: run `flask assets build`"


def test_htmx_is_the_published_file(app):
    manifest = json.loads(static(app, "vendor/htmx.json").read_text())
    algorithm, expected = manifest["integrity"].split("-", 1)
    data = static(app, "vendor/htmx.min.js").read_bytes()
    digest = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    assert digest == expected
    assert manifest["version"].startswith("2.0.")
    assert static(app, f"vendor/{manifest['license_file']}").read_text().strip()


@pytest.mark.parametrize(
    ("name", "budget"), [("style.css", STYLESHEET_BUDGET), ("vendor/htmx.min.js", HTMX_BUDGET)]
)
def test_the_files_every_page_loads_stay_within_budget(app, name, budget):
    assert len(gzip.compress(static(app, name).read_bytes(), 9)) <= budget


def htmx_config(page):
    match = re.search(r"<meta name=\"htmx-config\" content='([^']+)'>", page)
    return json.loads(match[1])


def test_pages_load_htmx_configured_for_the_csp(client):
    page = client.get("/").text
    policy = r'<script src="/static/trusted-types\.js\?v=[0-9a-f]{12}" defer></script>\s*'
    htmx = r'<script src="/static/vendor/htmx\.min\.js\?v=[0-9a-f]{12}" defer>'
    assert re.search(policy + htmx, page)  # the Trusted Types policy first
    config = htmx_config(page)
    assert config["includeIndicatorStyles"] is False  # it would inject an inline <style>
    assert config["allowEval"] is False and config["allowScriptTags"] is False
    assert config["historyCacheSize"] == 0  # no copy of pages in localStorage
    assert "<script>" not in page and " style=" not in page
    assert not re.search(r"\son[a-z]+=", page)  # no inline event handlers


def test_a_visitor_gets_no_session_cookie_for_the_htmx_header(client):
    page = client.get("/")
    assert "hx-headers" not in page.text and "Set-Cookie" not in page.headers


@pytest.mark.settings(WTF_CSRF_ENABLED=True)
def test_htmx_sends_the_csrf_token_flask_wtf_reads(client, user):
    make_user("grace", is_admin=True)
    log_in(client, "grace", csrf=True)
    page = client.get(f"/admin/users/{user.id}").text
    headers = json.loads(re.search(r"hx-headers='([^']+)'", page)[1])
    url = f"/admin/users/{user.id}/sessions"
    assert client.post(url, headers={"HX-Request": "true"}).status_code == 400
    answer = client.post(url, headers={"HX-Request": "true", **headers})
    assert answer.status_code == 302


def test_the_admin_search_answers_htmx_with_the_results_alone(client, user):
    make_user("grace", is_admin=True)
    log_in(client, "grace")
    whole = client.get("/admin/users?q=ada")
    assert "<html" in whole.text and 'id="results"' in whole.text
    part = client.get("/admin/users?q=ada", headers={"HX-Request": "true"})
    assert part.text.lstrip().startswith('<div id="results">') and "<html" not in part.text
    assert "1 account found" in part.text and "grace@example.com" not in part.text
    assert "HX-Request" in part.headers["Vary"] and "HX-Request" in whole.headers["Vary"]
    # A boosted request and a visit from the browser's history get the whole page.
    for extra in ({"HX-Boosted": "true"}, {"HX-History-Restore-Request": "true"}):
        again = client.get("/admin/users?q=ada", headers={"HX-Request": "true", **extra})
        assert "<html" in again.text
    trail = client.get("/admin/audit", headers={"HX-Request": "true"})
    assert trail.text.lstrip().startswith('<div id="results">')


@pytest.mark.settings(ADMIN_PAGE_SIZE=1)
def test_page_links_work_with_and_without_htmx(client, user):
    make_user("grace", is_admin=True)
    log_in(client, "grace")
    page = client.get("/admin/users").text
    link = re.search(r'<a href="(/admin/users\?page=2)" rel="next" hx-get="\1"', page)
    assert link and 'hx-target="#results"' in page
    assert "Page 2 of 2" in client.get(link[1], headers={"HX-Request": "true"}).text


def test_form_errors_are_tied_to_their_inputs(client):
    page = client.post("/auth/register", data={"username": "", "password": "x"}).text
    username = re.search(r'<input [^>]*name="username"[^>]*>', page)[0]
    assert 'aria-invalid="true"' in username
    (described,) = re.findall(r'aria-describedby="([^"]+)"', username)
    assert re.search(rf'<div id="{described}" class="error[^"]*">\s*<p>\S', page)
    assert '<label for="username"' in page
    assert " autofocus " in username  # the first wrong field, and no other
    assert page.count(" autofocus ") == 1


def test_confirmations_need_no_script(client, user):
    make_user("grace", is_admin=True)
    log_in(client, "grace")
    page = client.get(f"/admin/users/{user.id}").text
    assert re.search(
        r'<form method="post" action="[^"]+/disable"[^>]*hx-confirm="Disable ada\?', page
    )


def test_an_accepted_boosted_form_loads_the_next_page(client, user):
    """htmx would follow a redirect inside its request: it gets HX-Redirect instead, and the
    browser loads the next page (with its own scripts). The cookies still come."""
    form = {"username": "ada", "password": "correct horse"}
    boosted = client.post("/auth/login", data=form, headers=BOOSTED)
    assert boosted.status_code == 200 and boosted.headers["HX-Redirect"] == "/"
    cookies = boosted.headers.getlist("Set-Cookie")  # the session's, and the device's
    assert "Location" not in boosted.headers and any("session=" in c for c in cookies)
    assert client.get("/auth/account").status_code == 200
    plain = client.post("/auth/logout")
    assert plain.status_code == 302 and "HX-Redirect" not in plain.headers


def test_a_refused_boosted_form_comes_back_with_its_errors(client, user):
    form = {"username": "", "password": "x"}
    page = client.post("/auth/register", data=form, headers=BOOSTED)
    assert page.status_code == 200 and "HX-Redirect" not in page.headers
    assert 'aria-invalid="true"' in page.text
