"""The app sends its own security headers, so it is as safe without nginx in front."""

import pytest

HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}


@pytest.mark.parametrize("path", ["/", "/auth/login", "/static/style.css", "/no/such/page"])
def test_every_response_carries_the_security_headers(client, path):
    response = client.get(path)
    response.close()  # a static file's response holds the file open
    for name, value in HEADERS.items():
        assert response.headers.getlist(name) == [value]
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy  # no page can be framed (clickjacking)


def test_hsts_only_over_https(client):
    assert "Strict-Transport-Security" not in client.get("/").headers
    over_https = client.get("/", base_url="https://localhost")
    hsts = "max-age=63072000; includeSubDomains"
    assert over_https.headers["Strict-Transport-Security"] == hsts


def test_trusted_types_are_required_but_on_swagger_uis_page(client):
    """Pages take HTML only through static/trusted-types.js's policy; Swagger UI's bundle
    writes HTML from strings, so its page goes without (the rest of the policy stays)."""
    policy = client.get("/").headers["Content-Security-Policy"]
    assert "require-trusted-types-for 'script'" in policy
    assert "trusted-types default" in policy  # one policy, no other name
    docs = client.get("/api/docs")
    if docs.status_code == 200:  # a project with the API
        policy = docs.headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "object-src 'none'" in policy
        assert "trusted-types" not in policy


@pytest.mark.parametrize("path", ["/", "/static/style.css", "/no/such/page"])
def test_cross_origin_and_permissions_policies(client, path):
    response = client.get(path)
    response.close()
    assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response.headers["Cross-Origin-Resource-Policy"] == "same-origin"
    for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
        assert f"{feature}=()" in response.headers["Permissions-Policy"]
