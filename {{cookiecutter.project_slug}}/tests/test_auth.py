import re

import pytest
from conftest import csrf_token, link_in
from sqlalchemy import select

from {{ cookiecutter.project_slug }}.auth import guesses
from {{ cookiecutter.project_slug }}.extensions import db
from {{ cookiecutter.project_slug }}.models import User


def register(client, username="grace", password="compiler of 1952", confirm=None, email=None):
    return client.post(
        "/auth/register",
        data={
            "username": username,
            "email": email or f"{username}@example.com",
            "password": password,
            "confirm": confirm or password,
        },
    )


def login(
    client,
    username="ada",
    password="correct horse",
    next_url=None,
    remember=False,
    remote_addr="127.0.0.1",  # the test client's own
):
    url = "/auth/login" + (f"?next={next_url}" if next_url else "")
    data = {"username": username, "password": password}
    if remember:
        data["remember"] = "y"
    return client.post(url, data=data, environ_base={"REMOTE_ADDR": remote_addr})


def test_register_stores_a_hashed_password(client, outbox):
    response = register(client)
    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/login"
    user = db.session.scalar(select(User).filter_by(username="grace"))
    assert user.password_hash != "compiler of 1952"
    assert user.check_password("compiler of 1952")
    assert user.email == "grace@example.com" and not user.email_verified


def test_register_refuses_a_taken_username(client, user):
    response = register(client, username="ada", email="other@example.com")
    assert response.status_code == 200
    assert "That username is taken." in response.text


def test_sign_up_with_a_taken_address_answers_as_a_new_one_and_mails_the_owner(
    client, user, outbox
):
    new = register(client, username="grace", email="grace@example.com")
    taken = register(client, username="mallory", email="ADA@example.com")
    assert taken.status_code == new.status_code == 302
    assert taken.headers["Location"] == new.headers["Location"]
    page = client.get("/auth/login").text  # the flashed message
    assert "Open the link we have sent to ada@example.com" in page
    assert db.session.scalar(select(User).filter_by(username="mallory")) is None
    verify, exists = outbox
    assert verify.recipients == ["grace@example.com"]
    assert exists.recipients == ["ada@example.com"]
    assert "your username ada" in exists.body and "/auth/forgot-password" in exists.body


def test_register_refuses_mismatched_passwords(client):
    response = register(client, confirm="something else")
    assert "Passwords must match." in response.text
    assert db.session.scalar(select(User)) is None


def test_register_refuses_a_bad_address(client):
    response = register(client, email="not an address")
    assert response.status_code == 200
    assert db.session.scalar(select(User)) is None


def test_login_and_logout(client, user):
    response = login(client)
    assert response.status_code == 302
    assert "ada" in client.get("/").text
    assert "Log out" in client.get("/").text

    response = client.post("/auth/logout")
    assert response.status_code == 302
    assert "Log in" in client.get("/").text


def test_login_with_the_email_address(client, user):
    assert login(client, username="ADA@example.com").status_code == 302
    assert "Welcome back, ada." in client.get("/").text


def test_logout_needs_a_login(client):
    response = client.post("/auth/logout")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login")


def test_same_answer_for_unknown_user_and_wrong_password(client, user):
    unknown = login(client, username="nobody")
    wrong = login(client, password="wrong password")
    assert unknown.status_code == wrong.status_code == 200
    assert "Invalid username or password." in unknown.text
    # Apart from the username typed back into the form and the CSRF token (signed with the
    # second it was made in), the pages are the same.
    typed_back = unknown.text.replace("nobody", "ada")
    assert typed_back.replace(csrf_token(unknown), csrf_token(wrong)) == wrong.text


@pytest.mark.parametrize("target", ["/users/1", "/hello/you?x=1"])
def test_login_follows_a_local_next(client, user, target):
    assert login(client, next_url=target).headers["Location"] == target


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "javascript:x",
    ],
)
def test_login_refuses_an_open_redirect(client, user, target):
    assert login(client, next_url=target).headers["Location"] == "/"


def test_login_ignores_a_next_that_is_no_path(app, user):
    for target in ["/%0a", "/%0d%0aSet-Cookie:x=1", "//[", "/%00", "/%E2%80%AE"]:
        assert login(app.test_client(), next_url=target).headers["Location"] == "/", target


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


@pytest.mark.settings(WTF_CSRF_ENABLED=True)
def test_the_csrf_token_changes_at_login(client, user):
    before = csrf_token(client.get("/auth/login"))
    client.post(
        "/auth/login", data={"username": "ada", "password": "correct horse", "csrf_token": before}
    )
    after = csrf_token(client.get("/"))
    assert after != before
    # A token an attacker planted before the login is worth nothing after it.
    assert client.post("/auth/logout", data={"csrf_token": before}).status_code == 400
    assert client.post("/auth/logout", data={"csrf_token": after}).status_code == 302


@pytest.mark.settings(RATELIMIT_ENABLED=True)
def test_login_attempts_are_rate_limited(client, user):
    answers = [login(client, password="wrong").status_code for _ in range(11)]
    assert answers == [200] * 10 + [429]
    assert client.get("/auth/login").status_code == 200  # only POSTs count


@pytest.mark.settings(RATELIMIT_ENABLED=True, ACCOUNT_GUESS_RATE_LIMIT="3 per hour")
def test_wrong_passwords_for_one_account_are_counted_whatever_the_client(client, user):
    """Guesses from many addresses: the account's budget stops them all, and an unknown name
    is answered the same way (issue 21)."""
    for name in ["ada", "nobody"]:
        statuses = [
            login(client, username=name, password="wrong", remote_addr=f"192.0.2.{n}").status_code
            for n in range(5)
        ]
        assert statuses == [200] * 3 + [429] * 2, name
    refused = login(client, password="correct horse", remote_addr="198.51.100.1")
    assert refused.status_code == 429 and "Too many wrong passwords" in refused.text
    assert login(client, username="bob", password="wrong").status_code == 200  # another


@pytest.mark.settings(
    RATELIMIT_ENABLED=True,
    ACCOUNT_GUESS_RATE_LIMIT="3 per hour",
    DEVICE_GUESS_RATE_LIMIT="2 per hour",
)
def test_a_known_device_logs_in_while_strangers_are_locked_out(app, client, user):
    """OWASP's device cookies: strangers spend the account's budget for unknown devices; the
    browser that logged in before has its own (issue 33)."""
    owner = app.test_client()
    assert login(owner).headers["Location"] == "/"
    assert owner.get_cookie("device") is not None
    owner.post("/auth/logout")
    for n in range(5):
        login(client, password="wrong", remote_addr=f"192.0.2.{n}")
    assert login(client, remote_addr="198.51.100.1").status_code == 429  # a stranger
    assert login(app.test_client(), remote_addr="198.51.100.2").status_code == 429
    assert login(owner).headers["Location"] == "/"  # at once, with the right password
    owner.post("/auth/logout")
    # The device's own budget: a thief with its cookie gets that many guesses, no more.
    assert [login(owner, password="wrong").status_code for _ in range(3)] == [200, 200, 429]


def test_a_forged_or_other_accounts_device_cookie_is_a_stranger(app, client, user):
    grace = User(username="grace", email="grace@example.com", email_verified=True)
    grace.set_password("correct horse")
    db.session.add(grace)
    db.session.commit()
    browser = app.test_client()
    assert login(browser, username="grace").headers["Location"] == "/"
    cookie = browser.get_cookie("device")
    with app.test_request_context(headers={"Cookie": f"device={cookie.value}"}):
        assert guesses.account(grace)[0] == "device"
        assert guesses.account(user) == ("user", str(user.id))
    with app.test_request_context(headers={"Cookie": "device=forged.value.here"}):
        assert guesses.account(grace) == ("user", str(grace.id))


@pytest.mark.settings(RATELIMIT_ENABLED=True, ACCOUNT_GUESS_RATE_LIMIT="3 per hour")
def test_a_password_reset_gives_the_account_a_fresh_budget(client, user, outbox):
    for n in range(3):
        login(client, password="wrong", remote_addr=f"192.0.2.{n}")
    assert login(client, password="correct horse").status_code == 429
    client.post("/auth/forgot-password", data={"email": "ada@example.com"})
    form = {"password": "a brand new phrase", "confirm": "a brand new phrase"}
    client.post(link_in(outbox[0]), data=form)
    assert login(client, password="a brand new phrase").headers["Location"] == "/"


@pytest.mark.settings(RATELIMIT_ENABLED=True)
def test_rate_limit_page(client, user):
    for _ in range(10):
        login(client, password="wrong")
    response = login(client)
    assert response.status_code == 429
    assert "429 Too Many Requests" in response.text
    assert "Please try again in" in response.text
    assert "per 1 minute" not in response.text
    assert 0 < int(response.headers["Retry-After"]) <= 60


@pytest.mark.settings(RATELIMIT_ENABLED=True)
def test_registration_is_rate_limited_with_a_friendly_page(client, outbox):
    answers = [register(client, username=f"user{n}").status_code for n in range(6)]
    assert answers == [302] * 5 + [429]
    response = register(client, username="late")
    assert 0 < int(response.headers["Retry-After"]) <= 60
    assert re.search(r"Please try again in (\d+ seconds?|1 minute)\.", response.text)
    assert "5 per 1 minute" not in response.text
    assert db.session.scalar(select(User).filter_by(username="late")) is None


def test_verification_link_lets_a_new_account_log_in(client, outbox):
    register(client)
    (mail,) = outbox
    assert mail.recipients == ["grace@example.com"]
    assert "verify" in mail.subject

    client.get("/auth/login")  # shows the sign-up's message
    response = login(client, username="grace", password="compiler of 1952")
    assert response.status_code == 200  # not logged in, and told what a wrong password is
    unknown = login(client, username="nobody", password="compiler of 1952")
    assert unknown.text.replace("nobody", "grace") == response.text.replace(
        csrf_token(response), csrf_token(unknown)
    )
    assert "Signed up just now? Open the link we mailed you first" in response.text
    assert len(outbox) == 2  # a new link, in case the first was lost
    assert "Log in" in client.get("/").text

    response = client.get(link_in(mail))
    assert response.status_code == 302
    assert "Your email address grace@example.com is verified." in client.get("/").text
    assert login(client, username="grace", password="compiler of 1952").headers["Location"] == "/"


@pytest.mark.settings(LOGIN_REQUIRES_VERIFIED_EMAIL=False)
def test_a_setting_lets_unverified_accounts_log_in(client, outbox):
    register(client)
    assert login(client, username="grace", password="compiler of 1952").headers["Location"] == "/"


def test_a_forged_or_broken_verification_link_is_refused(client, user):
    for token in ["forged", "a.b.c", "x" * 500]:
        response = client.get(f"/auth/verify/{token}")
        assert response.status_code == 302
        assert "That link is invalid or has expired." in client.get("/auth/login").text
