"""Issue 21's findings on accounts, replayed on the path they were found: the baked nginx
site in front of Gunicorn with 4 workers, Redis holding the rate limits, a real SMTP server.

Each visitor comes from its own loopback address (see test_rate_limits.py), so the per-client
limits of one test never touch another's.
"""

import json
import re
import sqlite3
import time

import pytest

import servers
from test_rate_limits import Visitor, behind_nginx

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("accounts_abuse")]

PASSWORD = "a quiet heron at dawn"  # one zxcvbn scores well


@pytest.fixture(scope="module")
def stack(bake_once, baked_python, tmp_path_factory):
    """(site, mailbox, database file): the production stack with mail sent for real."""
    project = bake_once()
    folder = tmp_path_factory.mktemp("abuse")
    with (
        servers.redis() as redis,
        servers.smtp() as mail,
        behind_nginx(
            project,
            baked_python,
            folder,
            workers=4,
            TRUSTED_PROXIES="1",
            RATELIMIT_STORAGE_URI=redis.uri,
            MAIL_SERVER="127.0.0.1",
            MAIL_PORT=str(mail.port),
        ) as site,
    ):
        yield site, mail, folder / "app.sqlite"


def submit(visitor, path, **fields):
    """Fill in a form as a browser would; (status, page), following one redirect."""
    status, page = visitor.request("GET", path)
    assert status == 200, (path, status)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)[1]
    form = {"csrf_token": token, **fields}
    status, page = visitor.request("POST", path, form, referer=path)
    if status == 302:
        status, page = visitor.request("GET", "/auth/login")  # where every form sends one
    return status, page


def sign_up(visitor, username, email, password=PASSWORD):
    fields = {"username": username, "email": email, "password": password, "confirm": password}
    return submit(visitor, "/auth/register", **fields)


def log_in(visitor, username, password=PASSWORD):
    return submit(visitor, "/auth/login", username=username, password=password)


def api(visitor, method, path, body=None, token=None):
    """A JSON request to the API; (status, parsed body)."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    payload = None if body is None else json.dumps(body)
    status, text = visitor.request(method, path, headers=headers, body=payload)
    return status, json.loads(text) if text else None


def mails_to(mail, address, settle=3.0):
    """The mails `address` received, once none has arrived for `settle` seconds (at most 20 s)."""
    deadline = time.monotonic() + 20
    seen = -1
    while time.monotonic() < deadline:
        mails = [m for m in mail.messages if address in m["To"]]
        if len(mails) == seen:
            return mails
        seen = len(mails)
        time.sleep(settle)
    return mails


def message(page):
    """The flashed message of a page (the first, as the layout shows them)."""
    match = re.search(r'<p class="flash[^"]*"[^>]*>(.*?)</p>', page, re.S)
    return match[1].strip() if match else None


@pytest.mark.parametrize("address", ["b\u043eb@example.com", "\ua731@example.com"])
def test_a_non_ascii_address_is_refused_with_a_reason(stack, address):
    """Before: the account was saved and the sign-up, then every login, answered 500."""
    site, mail, _ = stack
    visitor = Visitor(site, "127.0.1.1" if address.startswith("b") else "127.0.1.2")
    status, page = sign_up(visitor, "bob" if address.startswith("b") else "ess", address)
    assert status == 200
    assert "Internationalized characters before the @-sign are not supported" in page
    status, page = log_in(visitor, "bob" if address.startswith("b") else "ess")
    assert status == 200 and "Invalid username or password." in page  # no account was made


def test_an_existing_account_with_such_an_address_logs_in_calmly(stack):
    """An account made before with such an address: its login asks for a link and gets a
    calm answer (the migration also takes such addresses away: the baked suite checks it)."""
    site, mail, database = stack
    visitor = Visitor(site, "127.0.1.3")
    assert sign_up(visitor, "carol", "carol@example.com")[0] == 200
    with sqlite3.connect(database) as connection:
        connection.execute(
            'UPDATE "user" SET email = ? WHERE username = ?', ("c\u0430rol@example.com", "carol")
        )
    status, page = log_in(visitor, "carol")
    assert status == 200
    # As for a wrong password (issue 33: an account waiting for its link looks like none).
    assert "Invalid username or password." in page


def test_one_address_gets_at_most_five_mails_however_they_are_asked_for(stack):
    """Before: sign up with the victim's address, log in 10 times, ask for 5 resets: 16 mails
    within a minute."""
    site, mail, _ = stack
    visitor = Visitor(site, "127.0.2.1")
    victim = "victim@example.com"
    statuses = [sign_up(visitor, "mallory", victim)[0]]
    statuses += [log_in(visitor, "mallory")[0] for _ in range(10)]
    statuses += [submit(visitor, "/auth/forgot-password", email=victim)[0] for _ in range(5)]
    assert statuses == [200] * 16  # every answer calm: no 429, no 500
    assert len(mails_to(mail, victim)) == 5
    # Another client, and another worker, share the count.
    other = Visitor(site, "127.0.2.2")
    assert submit(other, "/auth/forgot-password", email=victim)[0] == 200
    assert len(mails_to(mail, victim)) == 5


def test_the_login_form_and_the_api_share_one_budget_per_client(stack):
    """Before: 10 wrong passwords a minute on the form and 10 more on POST /api/tokens."""
    site, _, _ = stack
    visitor = Visitor(site, "127.0.3.1")
    form = [log_in(visitor, "nobody", "wrong")[0] for _ in range(10)]
    wrong = {"username": "nobody", "password": "wrong"}
    tokens = [api(visitor, "POST", "/api/tokens", wrong)[0] for _ in range(10)]
    assert form == [200] * 10
    assert tokens == [429] * 10


def test_one_account_has_one_budget_whatever_the_client(stack):
    """20 wrong passwords an hour for one account (ACCOUNT_GUESS_RATE_LIMIT), from any number
    of clients, on the form and the API together."""
    site, _, _ = stack
    assert sign_up(Visitor(site, "127.0.4.1"), "dave", "dave@example.com")[0] == 200
    answers = []
    for n in range(5):  # 5 clients, 5 guesses each: under each client's own limit
        visitor = Visitor(site, f"127.0.4.{n + 2}")
        answers += [log_in(visitor, "dave", "wrong")[0] for _ in range(3)]
        body = {"username": "dave@example.com", "password": "wrong"}
        answers += [api(visitor, "POST", "/api/tokens", body)[0] for _ in range(2)]
    assert len([a for a in answers if a in (200, 401)]) == 20
    assert answers[20:] == [429] * 5


def test_sign_up_answers_the_same_for_a_taken_address_and_mails_its_owner(stack):
    """Before: "That email address belongs to another account"."""
    site, mail, _ = stack
    status, fresh = sign_up(Visitor(site, "127.0.5.1"), "erin", "erin@example.com")
    status_taken, taken = sign_up(Visitor(site, "127.0.5.2"), "eve", "erin@example.com")
    assert status == status_taken == 200
    assert message(fresh) == message(taken)
    assert "erin@example.com" in message(taken)
    owner_mails = mails_to(mail, "erin@example.com")
    assert [m["Subject"].split(": ")[-1] for m in owner_mails] == [
        "verify your email address",
        "your account",
    ]


def test_the_list_of_users_is_for_administrators_only(stack):
    """Before: any logged-in user listed every username with GET /api/users."""
    site, mail, _ = stack
    visitor = Visitor(site, "127.0.6.1")
    assert sign_up(visitor, "frank", "frank@example.com")[0] == 200
    visitor.request("GET", mail.link("frank@example.com", "verify"))
    status, body = api(visitor, "POST", "/api/tokens", {"username": "frank", "password": PASSWORD})
    assert status == 201, body
    status, body = api(visitor, "GET", "/api/users", token=body["token"])
    assert status == 403 and "administrators" in body["detail"]


@pytest.mark.parametrize(
    ("password", "address"), [("password", "127.0.7.1"), ("12345678", "127.0.7.2")]
)
def test_common_passwords_are_refused(stack, password, address):
    """Before: any 8 characters passed."""
    site, _, _ = stack
    status, page = sign_up(Visitor(site, address), "gina", "gina@example.com", password)
    assert status == 200
    assert "This password is too easy to guess" in page
