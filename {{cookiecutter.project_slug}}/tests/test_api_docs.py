"""/api/docs without nginx: only the files it needs, gzipped and cached a year."""

import gzip
import re

from {{ cookiecutter.project_slug }}.assets import FOR_A_YEAR

GZIP = {"Accept-Encoding": "gzip, deflate, br"}


def docs_assets(client):
    page = client.get("/api/docs").text
    return re.findall(r'="(/api/docs/[^"]+)"', page)  # links, scripts and data- attributes


def test_page_names_four_files_of_this_site_each_with_a_hash(client):
    assets = docs_assets(client)
    assert len(assets) == 4  # Swagger UI's bundle and stylesheet, our script and stylesheet
    assert all(re.search(r"\?v=[0-9a-f]{12}$", url) for url in assets)


def test_page_lists_the_operations_before_swagger_ui_starts(client):
    page = client.get("/api/docs").text
    assert "<td>POST</td><td><code>/api/tokens</code></td>" in page
    assert "<td>PATCH</td><td><code>/api/users/me</code></td>" in page


def test_page_has_a_meta_description(client):
    assert '<meta name="description" content="The reference of ' in client.get("/api/docs").text


def test_swagger_ui_files_are_gzipped_and_cached_a_year(client):
    for url in docs_assets(client):
        response = client.get(url, headers=GZIP)
        assert response.status_code == 200, url
        assert response.headers["Cache-Control"] == FOR_A_YEAR, url
        if "/swagger-ui/" in url:
            assert response.headers["Content-Encoding"] == "gzip", url
            assert "Accept-Encoding" in response.headers["Vary"]
            plain = client.get(url, headers={"Accept-Encoding": "identity"})
            assert "Content-Encoding" not in plain.headers
            assert gzip.decompress(response.data) == plain.data
        response.close()


def test_the_bundle_gzipped_is_under_a_third_of_its_size(client):
    (bundle,) = [url for url in docs_assets(client) if "swagger-ui-bundle.js" in url]
    size = len(client.get(bundle).data)
    assert len(client.get(bundle, headers=GZIP).data) < size / 3


def test_only_the_files_the_page_needs_are_served(client):
    for name in ("index.html", "swagger-initializer.js", "swagger-ui.js", "oauth2-redirect.html"):
        assert client.get(f"/api/docs/swagger-ui/{name}").status_code == 404, name


def test_without_the_hash_files_are_revalidated(client):
    response = client.get("/api/docs/swagger-ui/swagger-ui.css")
    assert response.headers["Cache-Control"] == "no-cache"
    again = client.get(
        "/api/docs/swagger-ui/swagger-ui.css", headers={"If-None-Match": response.headers["ETag"]}
    )
    assert again.status_code == 304
