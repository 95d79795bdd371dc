import pytest
from conftest import csrf_token
from sqlalchemy import select

from {{ cookiecutter.project_slug }}.extensions import db
from {{ cookiecutter.project_slug }}.models import User


def register(client, username="grace", password="hopper1906", confirm=None):
    return client.post(
        "/auth/register",
        data={"username": username, "password": password, "confirm": confirm or password},
    )


def login(client, username="ada", password="correct horse", next_url=None):
    url = "/auth/login" + (f"?next={next_url}" if next_url else "")
    return client.post(url, data={"username": username, "password": password})


def test_register_stores_a_hashed_password(client, app):
    response = register(client)
    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/login"
    user = db.session.scalar(select(User).filter_by(username="grace"))
    assert user.password_hash != "hopper1906"
    assert user.check_password("hopper1906")


def test_register_refuses_a_taken_username(client, user):
    response = register(client, username="ada")
    assert response.status_code == 200
    assert "That username is taken." in response.text


def test_register_refuses_mismatched_passwords(client):
    response = register(client, confirm="something else")
    assert "Passwords must match." in response.text
    assert db.session.scalar(select(User)) is None


def test_login_and_logout(client, user):
    response = login(client)
    assert response.status_code == 302
    assert "ada" in client.get("/").text
    assert "Log out" in client.get("/").text

    response = client.post("/auth/logout")
    assert response.status_code == 302
    assert "Log in" in client.get("/").text


def test_logout_needs_a_login(client):
    response = client.post("/auth/logout")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login")


def test_same_answer_for_unknown_user_and_wrong_password(client, user):
    unknown = login(client, username="nobody")
    wrong = login(client, password="wrong password")
    assert unknown.status_code == wrong.status_code == 200
    assert "Invalid username or password." in unknown.text
    # Apart from the username typed back into the form, the pages are the same.
    assert unknown.text.replace("nobody", "ada") == wrong.text


@pytest.mark.parametrize("target", ["/users/1", "/hello/you?x=1"])
def test_login_follows_a_local_next(client, user, target):
    assert login(client, next_url=target).headers["Location"] == target


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:x"]
)
def test_login_refuses_an_open_redirect(client, user, target):
    assert login(client, next_url=target).headers["Location"] == "/"


@pytest.mark.settings(WTF_CSRF_ENABLED=True)
def test_csrf_token_is_required(client, user):
    response = login(client)
    assert response.status_code == 400
    assert "CSRF" in response.text


@pytest.mark.settings(WTF_CSRF_ENABLED=True)
def test_login_with_the_token_from_the_form(client, user):
    token = csrf_token(client.get("/auth/login"))
    response = client.post(
        "/auth/login", data={"username": "ada", "password": "correct horse", "csrf_token": token}
    )
    assert response.status_code == 302
    page = client.get("/")
    assert "Welcome back, ada." in page.text

    response = client.post("/auth/logout", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 302
    assert "Log in" in client.get("/").text


@pytest.mark.settings(RATELIMIT_ENABLED=True)
def test_login_attempts_are_rate_limited(client, user):
    answers = [login(client, password="wrong").status_code for _ in range(11)]
    assert answers == [200] * 10 + [429]
    assert client.get("/auth/login").status_code == 200  # only POSTs count


@pytest.mark.settings(RATELIMIT_ENABLED=True)
def test_rate_limit_page(client, user):
    for _ in range(10):
        login(client, password="wrong")
    response = login(client)
    assert response.status_code == 429
    assert "429 Too Many Requests" in response.text
