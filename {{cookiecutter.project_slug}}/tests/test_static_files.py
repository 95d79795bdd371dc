"""Static files without nginx: URLs carrying a hash of the file, cached by browsers a year."""

import gzip
import re

import pytest

from {{ cookiecutter.project_slug }}.assets import FOR_A_YEAR

STATIC_URL = re.compile(r'href="(/static/style\.css\?v=([0-9a-f]{12}))"')


def stylesheet_url(client):
    match = STATIC_URL.search(client.get("/").text)
    assert match, "the page links no fingerprinted stylesheet"
    return match[1]


def test_pages_link_static_files_with_their_hash(client):
    page = client.get("/auth/login").text
    assert re.search(r'<link rel="icon" href="/static/favicon\.svg\?v=[0-9a-f]{12}"', page)
    assert STATIC_URL.search(page)


def test_hashed_url_is_cached_for_a_year(client):
    with client.get(stylesheet_url(client)) as response:
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == FOR_A_YEAR
        assert response.headers["X-Content-Type-Options"] == "nosniff"  # headers.py still applies


@pytest.mark.parametrize("query", ["", "?v=000000000000"], ids=["no hash", "outdated hash"])
def test_url_without_the_current_hash_still_answers_but_is_revalidated(client, query):
    with client.get(f"/static/style.css{query}") as response:
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "no-cache"
        assert response.headers["ETag"]


def test_a_changed_file_gets_a_new_url_at_once_in_debug_mode(app, client, tmp_path):
    app.debug = True  # as under `flask run --debug`; a deployment restarts the app instead
    app.static_folder = str(tmp_path)
    (tmp_path / "style.css").write_text("body { color: black; }")
    first = stylesheet_url(client)
    (tmp_path / "style.css").write_text("body { color: navy; }")
    second = stylesheet_url(client)
    assert first != second
    with client.get(second) as response:
        assert response.text == "body { color: navy; }"
        assert response.headers["Cache-Control"] == FOR_A_YEAR


def test_pages_are_not_cached_as_files(client):
    assert "immutable" not in client.get("/?v=000000000000").headers.get("Cache-Control", "")


def test_gzip_static_writes_a_copy_of_each_text_file(app, runner, tmp_path, monkeypatch):
    # Every static folder, the blueprints' too, is a temporary one: no copy lands in the package.
    monkeypatch.setattr(app, "static_folder", str(tmp_path))
    for name, blueprint in app.blueprints.items():
        if blueprint.static_folder:
            monkeypatch.setattr(blueprint, "static_folder", str(tmp_path / name))
    (tmp_path / "style.css").write_text("body { color: black; }\n" * 100)
    (tmp_path / "logo.png").write_bytes(b"\x89PNG not text")
    result = runner.invoke(args=["gzip-static"])
    assert result.exit_code == 0, result.output
    copy = tmp_path / "style.css.gz"
    assert gzip.decompress(copy.read_bytes()) == (tmp_path / "style.css").read_bytes()
    assert copy.stat().st_mtime_ns == (tmp_path / "style.css").stat().st_mtime_ns
    assert not (tmp_path / "logo.png.gz").exists()  # already compressed: left alone
