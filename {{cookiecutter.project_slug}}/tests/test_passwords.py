"""Every way to set a password refuses common ones and ones close to the account's own name
or address, with the same message (issue 21: `password` and `12345678` passed)."""

import secrets

import pytest
from conftest import link_in
from sqlalchemy import select
from test_auth import login, register

from {{ cookiecutter.project_slug }}.auth import rules
from {{ cookiecutter.project_slug }}.extensions import db
from {{ cookiecutter.project_slug }}.models import User

# Common ones, and ones made of the account's username (grace / ada) and address.
GUESSABLE = ["password", "12345678", "qwertyuiop", "grace@example.com", "grace12345"]


@pytest.mark.parametrize("password", GUESSABLE)
def test_sign_up_refuses_a_guessable_password(client, outbox, password):
    response = register(client, username="grace", password=password)
    assert response.status_code == 200
    assert rules.TOO_GUESSABLE in response.text
    assert db.session.scalar(select(User)) is None and outbox == []


@pytest.mark.parametrize("password", ["password", "12345678", "ada@example.com", "adaexample"])
def test_change_password_refuses_a_guessable_one(client, user, password):
    login(client)
    response = client.post(
        "/auth/change-password",
        data={"current_password": "correct horse", "password": password, "confirm": password},
    )
    assert rules.TOO_GUESSABLE in response.text
    assert user.check_password("correct horse")


def test_reset_refuses_a_guessable_password(client, user, outbox):
    client.post("/auth/forgot-password", data={"email": "ada@example.com"})
    link = link_in(outbox[0])
    response = client.post(link, data={"password": "adaexample", "confirm": "adaexample"})
    assert rules.TOO_GUESSABLE in response.text
    assert user.check_password("correct horse")


@pytest.mark.parametrize("password", ["password", "12345678", "linus@example.com"])
def test_create_user_refuses_a_guessable_password(runner, password):
    result = runner.invoke(
        args=["create-user", "linus", "linus@example.com", "--password", password]
    )
    assert result.exit_code == 1
    assert rules.TOO_GUESSABLE in result.output and repr(password) not in result.output
    assert db.session.scalar(select(User)) is None


def test_the_longest_password_allowed_is_checked():
    # zxcvbn refuses input over 72 characters and is slow long before: it sees the first 32.
    password = secrets.token_urlsafe(96)[: rules.PASSWORD_MAX]
    assert rules.check_password(password, "ada", "ada@example.com") == password
    with pytest.raises(rules.InvalidValue):  # a guessable start is not hidden by what follows
        rules.check_password("12345678" * 4 + secrets.token_urlsafe(40))
