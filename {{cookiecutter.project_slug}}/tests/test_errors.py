import pytest

from {{ cookiecutter.project_slug }} import create_app
from {{ cookiecutter.project_slug }}.errors import in_words


def test_404_page(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "404 Not Found" in response.text
    assert "Back to the home page" in response.text


@pytest.mark.settings(TESTING=False, PROPAGATE_EXCEPTIONS=False)
def test_500_page_shows_no_traceback(app, client):
    @app.get("/boom")
    def boom():
        raise ValueError("secret internals")

    response = client.get("/boom")
    assert response.status_code == 500
    assert "500 Internal Server Error" in response.text
    assert "secret internals" not in response.text
    assert "Traceback" not in response.text


def test_503_page_when_the_database_is_unreachable():
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite:////nonexistent/folder/app.sqlite"})
    response = app.test_client().get("/users/1")
    assert response.status_code == 503
    assert "503 Service Unavailable" in response.text


def test_413_for_a_body_over_the_limit(client):
    body = "x" * (1024 * 1024 + 1)
    response = client.post("/auth/login", data={"username": body})
    assert response.status_code == 413
    assert "413 Request Entity Too Large" in response.text


@pytest.mark.settings(WTF_CSRF_ENABLED=True)
def test_400_page_for_a_missing_csrf_token(client):
    response = client.post("/auth/register", data={"username": "x"})
    assert response.status_code == 400
    assert "The CSRF token is missing." in response.text


def test_405_page(client):
    response = client.get("/auth/logout")
    assert response.status_code == 405
    assert "405 Method Not Allowed" in response.text


def test_debug_is_off_in_production(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "f" * 64)
    monkeypatch.setenv("BASE_URL", "https://app.example.com")
    assert not create_app("production").debug


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(1, "1 second"), (40, "40 seconds"), (60, "1 minute"), (61, "2 minutes"), (7200, "2 hours")],
)
def test_retry_after_in_words(seconds, words):
    assert in_words(seconds) == words


def test_a_user_id_too_large_for_the_database_is_404(client):
    assert client.get("/users/99999999999999999999999").status_code == 404
    assert client.get("/users/2147483648").status_code == 404


@pytest.mark.settings(WTF_CSRF_ENABLED=True, SESSION_COOKIE_SECURE=True)
def test_forms_over_plain_http_say_the_site_needs_https(client):
    """A browser keeps a Secure session cookie to itself over plain HTTP, so the form comes
    back without the session that holds its CSRF token."""
    response = client.post("/auth/register", data={"username": "ada"})
    assert response.status_code == 400
    assert "This site needs HTTPS" in response.text
    assert "Open https://localhost/ instead." in response.text

    over_https = client.post(
        "/auth/register", data={"username": "ada"}, base_url="https://localhost"
    )
    assert over_https.status_code == 400
    assert "The CSRF token is missing." in over_https.text
