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
