"""Issue 33's findings on accounts, the admin area and headers, replayed on the path they were
found: the baked nginx site in front of Gunicorn with 4 workers, Redis holding the rate limits,
a real SMTP server (the stack of test_accounts_abuse.py, started again for this module).

Each visitor comes from its own loopback address (see test_rate_limits.py), so the per-client
limits of one test never touch another's.
"""

import collections
import json
import re
import sqlite3
import statistics
import time

import pytest

import servers
from test_accounts_abuse import PASSWORD, api, mails_to, message, sign_up, stack, submit
from test_rate_limits import Visitor, behind_nginx

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("accounts_abuse")]

__all__ = ["stack"]  # the fixture, imported for this module


def post_form(visitor, path, **fields):
    """Fill in the form at `path` and send it; (status, Location) of the POST's answer."""
    status, page = visitor.request("GET", path)
    assert status == 200, (path, status)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)[1]
    status, page = visitor.request("POST", path, {"csrf_token": token, **fields}, referer=path)
    return status, visitor.headers["Location"] if status == 302 else page


def logged_in(visitor, username, password=PASSWORD):
    return post_form(visitor, "/auth/login", username=username, password=password) == (302, "/")


def verified(site, mail, database, address, username, make_admin=False):
    """A visitor at `address` with a verified account, logged in."""
    visitor = Visitor(site, address)
    assert sign_up(visitor, username, f"{username}@example.com")[0] == 200
    visitor.request("GET", mail.link(f"{username}@example.com", "verify"))
    if make_admin:
        with sqlite3.connect(database) as connection:
            connection.execute('UPDATE "user" SET is_admin = 1 WHERE username = ?', (username,))
    assert logged_in(visitor, username)
    if make_admin:  # administrators need a second factor: a passkey on record, added after
        # this login (signing in with one is tests/test_browser_factors.py's subject)
        with sqlite3.connect(database) as connection:
            connection.execute(
                "INSERT INTO webauthn_credential (user_id, credential_id, public_key, sign_count,"
                " transports, name, created_at) SELECT id, ?, ?, 0, '', 'key', CURRENT_TIMESTAMP"
                ' FROM "user" WHERE username = ?',
                (username.encode(), b"not used", username),
            )
    return visitor


def logs(site):
    """Every line nginx and Gunicorn have logged so far."""
    nginx = (site.front.log_path.parent / "site-access.log").read_text()
    return nginx + site.gunicorn.log()


def test_no_mailed_token_reaches_any_access_log(stack):
    """Before: /auth/reset-password/<token> and /auth/verify/<token> whole in nginx's log and
    Gunicorn's, where whoever reads them could take the account; and opening a reset link left
    its token in the page's URL."""
    site, mail, database = stack
    visitor = Visitor(site, "127.0.9.1")
    assert sign_up(visitor, "hanna", "hanna@example.com")[0] == 200
    links = [mail.link("hanna@example.com", "verify")]
    visitor.request("GET", links[0])
    assert logged_in(visitor, "hanna")
    fields = {"email": "hanna2@example.com", "current_password": PASSWORD}
    assert post_form(visitor, "/auth/change-email", **fields) == (302, "/auth/account")
    links.append(mail.link("hanna2@example.com", "verify"))
    visitor.request("GET", links[1])
    other = Visitor(site, "127.0.9.2")
    assert submit(other, "/auth/forgot-password", email="hanna2@example.com")[0] == 200
    links.append(mail.link("hanna2@example.com", "reset"))

    # The reset link: opening it moves the token out of the URL, into the session.
    stranger = Visitor(site, "127.0.9.3")
    status, _ = stranger.request("GET", links[2])
    assert status == 302 and stranger.headers["Location"] == "/auth/reset-password"
    new = "another quiet heron at dusk"
    assert submit(stranger, "/auth/reset-password", password=new, confirm=new)[0] == 200
    assert logged_in(Visitor(site, "127.0.9.4"), "hanna", new)

    tokens = [link.rsplit("/", 1)[1] for link in links]
    assert all(len(token) > 20 for token in tokens), tokens
    written = logs(site)
    assert "/auth/reset-password/-" in written and "/auth/verify/-" in written
    for token in tokens:
        assert token not in written


def test_profiles_are_for_logged_in_users_only(stack):
    """Before: walking /users/1, /users/2... without logging in listed every username."""
    site, mail, database = stack
    member = verified(site, mail, database, "127.0.10.1", "ivan")
    with sqlite3.connect(database) as connection:
        (ivan,) = connection.execute("SELECT id FROM \"user\" WHERE username = 'ivan'").fetchone()
    stranger = Visitor(site, "127.0.10.2")
    for user_id in range(1, ivan + 2):
        status, page = stranger.request("GET", f"/users/{user_id}")
        assert status == 404 and "ivan" not in page
    status, page = member.request("GET", f"/users/{ivan}")
    assert status == 200 and "ivan" in page


def test_the_last_administrator_stays_and_another_needs_a_password(stack):
    """Before: the last administrator could delete its account, and any administrator could
    disable or delete another with no second look."""
    site, mail, database = stack
    admin = verified(site, mail, database, "127.0.11.1", "judy", make_admin=True)
    with sqlite3.connect(database) as connection:
        admins = connection.execute('SELECT username FROM "user" WHERE is_admin').fetchall()
    assert admins == [("judy",)]
    status, page = admin.request("GET", "/auth/delete-account", referer="/auth/account")
    assert status == 302 and admin.headers["Location"] == "/auth/account"
    assert "You are the last administrator" in admin.request("GET", "/auth/account")[1]
    other = verified(site, mail, database, "127.0.11.2", "karl", make_admin=True)
    with sqlite3.connect(database) as connection:
        (karl,) = connection.execute("SELECT id FROM \"user\" WHERE username = 'karl'").fetchone()
    status, page = admin.request("GET", f"/admin/users/{karl}")
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)[1]
    path = f"/admin/users/{karl}/disable"
    status, _ = admin.request("POST", path, {"csrf_token": token}, referer=path)
    assert status == 302
    status, page = admin.request("GET", f"/admin/users/{karl}")
    assert "type your own password" in page and "disabled since" not in page
    form = {"csrf_token": token, "current_password": PASSWORD}
    admin.request("POST", path, form, referer=path)
    assert "disabled since" in admin.request("GET", f"/admin/users/{karl}")[1]
    assert other.request("GET", "/auth/account")[0] == 302  # its session has ended


def test_the_database_refuses_to_rewrite_the_trail(stack):
    """Before: a bulk update rewrote a row of the audit trail."""
    _, _, database = stack
    with sqlite3.connect(database) as connection:
        connection.execute(
            "INSERT INTO audit_event (created_at, actor_name, action, target_name) "
            "VALUES ('2026-12-07', 'x', 'disable', 'y')"
        )
    for statement in ("UPDATE audit_event SET action = 'nothing'", "DELETE FROM audit_event"):
        with sqlite3.connect(database) as connection, pytest.raises(sqlite3.IntegrityError):
            connection.execute(statement)


def test_answers_with_secrets_or_accounts_are_never_stored(stack):
    """Before: the bearer token, /api/users/me and the account pages could be cached."""
    site, mail, database = stack
    visitor = verified(site, mail, database, "127.0.12.1", "lena")
    visitor.request("GET", "/auth/account")
    assert visitor.headers["Cache-Control"] == "no-store"
    script = Visitor(site, "127.0.12.3")  # a client of the API: no cookies
    status, body = api(script, "POST", "/api/tokens", {"username": "lena", "password": PASSWORD})
    assert status == 201 and script.headers["Cache-Control"] == "no-store"
    status, _ = api(script, "GET", "/api/users/me", token=body["token"])
    assert status == 200 and script.headers["Cache-Control"] == "no-store"
    anonymous = Visitor(site, "127.0.12.2")
    anonymous.request("GET", "/")
    assert "no-store" not in (anonymous.headers["Cache-Control"] or "")


def test_json_with_a_key_twice_is_refused(stack):
    """Before: the last of two "username" keys won, whatever a proxy read in the first."""
    site, _, _ = stack
    visitor = Visitor(site, "127.0.13.1")
    body = '{"username": "nobody", "username": "lena", "password": "x"}'
    status, text = visitor.request(
        "POST", "/api/tokens", headers={"Content-Type": "application/json"}, body=body
    )
    assert status == 400, text
    assert json.loads(text)["status"] == 400


def test_options_under_the_api_is_a_204_with_allow(stack):
    """Before: 200 with an empty HTML body."""
    site, _, _ = stack
    visitor = Visitor(site, "127.0.13.2")
    status, text = visitor.request("OPTIONS", "/api/tokens")
    assert status == 204 and text == ""
    assert "POST" in visitor.headers["Allow"]


@pytest.mark.parametrize("path", ["/", "/auth/login", "/static/style.css", "/no/such/page"])
def test_the_headers_an_auditor_expects(stack, path):
    """Before: no COOP or CORP, a Permissions-Policy denying only browsing-topics, HSTS without
    includeSubDomains, and X-Request-ID twice on static files."""
    site, _, _ = stack
    visitor = Visitor(site, "127.0.14.1")
    visitor.request("GET", path)
    headers = visitor.headers
    assert headers.get_all("Cross-Origin-Opener-Policy") == ["same-origin"]
    assert headers.get_all("Cross-Origin-Resource-Policy") == ["same-origin"]
    (permissions,) = headers.get_all("Permissions-Policy")
    for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
        assert f"{feature}=()" in permissions
    assert "publickey-credentials" not in permissions  # passkeys keep their default: self
    assert headers.get_all("Strict-Transport-Security") == ["max-age=63072000; includeSubDomains"]
    (policy,) = headers.get_all("Content-Security-Policy")
    assert "default-src 'self'" in policy  # nginx's map (static files) repeats the app's:
    assert "require-trusted-types-for 'script'; trusted-types default" in policy
    assert len(headers.get_all("X-Request-ID")) == 1


def test_strangers_lock_an_account_but_never_its_owner_on_a_known_device(stack):
    """Before: 20 wrong passwords from 3 addresses locked the account for up to an hour, its
    owner's right password included, on the form and on POST /api/tokens."""
    site, mail, database = stack
    owner = verified(site, mail, database, "127.0.15.1", "mona")  # logged in: a known device
    assert "device" in owner.cookies
    owner.request("POST", "/auth/logout", {"csrf_token": csrf(owner)}, referer="/")
    answers = []
    for n in range(3):  # 7 wrong passwords from each of 3 addresses, within their own limits
        attacker = Visitor(site, f"127.0.15.{n + 2}")
        wrong = {"username": "mona", "password": "not the password"}
        answers += [post_form(attacker, "/auth/login", **wrong)[0] for _ in range(7)]
    assert answers == [200] * 20 + [429], answers
    stranger = Visitor(site, "127.0.15.9")
    status, page = post_form(stranger, "/auth/login", username="mona", password=PASSWORD)
    assert status == 429 and "Too many wrong passwords" in page
    body = {"username": "mona", "password": PASSWORD}
    assert api(Visitor(site, "127.0.15.10"), "POST", "/api/tokens", body)[0] == 429
    assert logged_in(owner, "mona")  # at once


def csrf(visitor):
    """The CSRF token of the visitor's session, from a page that has a form (its account's)."""
    page = visitor.request("GET", "/auth/account")[1]
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)[1]


@pytest.mark.parametrize(
    ("path", "field"), [("/auth/forgot-password", "email"), ("/auth/login", "username")]
)
def test_a_huge_field_is_refused_before_any_work(stack, path, field):
    """Before: a 1 MB address on forgot-password held a worker 0.6-1.3 s."""
    site, _, _ = stack
    visitor = Visitor(site, "127.0.16.1" if field == "email" else "127.0.16.2")
    page = visitor.request("GET", path)[1]
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)[1]
    answers = []
    for size in (900_000, 2_000):
        form = {"csrf_token": token, field: "a" * (size - 12) + "@example.com", "password": "x"}
        started = time.monotonic()
        status, page = visitor.request("POST", path, form, referer=path)
        answers.append((status, time.monotonic() - started))
        if size == 2_000:
            assert "Use at most 1024 characters." in page
    print(f"\n{path}: {answers}")
    assert [status for status, _ in answers] == [413, 200]
    assert answers[1][1] < 0.5, answers  # the 413 takes what the upload takes: no work


def test_a_refused_body_gets_its_answer_through_nginx_not_a_502(stack):
    """Before: Gunicorn answered a 900 kB form's 413 without reading the body and closed the
    connection; nginx, still sending it, failed to write and answered 502 to 2-4 posts in 100
    (CI once). The app now reads a refused body to its end (bodies.py). The same holds for a
    rate limit's 429, answered before the body is read too."""
    site, _, _ = stack
    huge = {"username": "a" * 900_000, "password": "x"}
    statuses = collections.Counter()
    for n in range(200):  # each from its own address: no rate limit, a 413 each
        visitor = Visitor(site, f"127.0.{20 + n // 100}.{1 + n % 100}")
        page = visitor.request("GET", "/auth/login")[1]
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)[1]
        form = {"csrf_token": token, **huge}
        statuses[visitor.request("POST", "/auth/login", form, referer="/auth/login")[0]] += 1
    assert statuses == {413: 200}
    body = json.dumps(huge)
    visitor, answers = Visitor(site, "127.0.22.1"), collections.Counter()
    for _ in range(60):  # over the token route's limit: 429s from the limiter, before any read
        headers = {"Content-Type": "application/json"}
        answers[visitor.request("POST", "/api/tokens", headers=headers, body=body)[0]] += 1
    assert set(answers) == {422, 429} and answers[429] >= 40, answers  # 422: a too long name


@pytest.mark.parametrize(
    ("username", "address", "reason"),
    [
        ("administrator", "nora@example.com", "That username is reserved."),
        ("postmaster", "nora@example.com", "That username is reserved."),
        ("nora", "nora@\u0435xample.com", "mixes letters of different alphabets"),
    ],
)
def test_look_alike_and_reserved_identities_are_refused(stack, username, address, reason):
    """Before: `bob@example.com` and `bob@еxample.com` (a Cyrillic е) were two accounts that
    read the same, and `admin`, `administrator`, `postmaster` were free to take."""
    site, _, database = stack
    status, page = sign_up(Visitor(site, "127.0.17.1"), username, address)
    assert status == 200 and reason in page
    with sqlite3.connect(database) as connection:
        taken = connection.execute(
            'SELECT count(*) FROM "user" WHERE username = ? OR email = ?', (username, address)
        ).fetchone()
    assert taken == (0,)


def test_whole_script_look_alikes_of_an_account_are_taken(stack):
    """Before: an all-Cyrillic domain (сору.example) passed the mixed-script check and made a
    second account that read as `nola@copy.example`; `n0la` joined `nola` the same way."""
    site, mail, database = stack
    assert sign_up(Visitor(site, "127.0.19.1"), "nola", "nola@copy.example")[0] == 200
    status, page = sign_up(Visitor(site, "127.0.19.2"), "n0la", "other@example.com")
    assert status == 200 and "That username is taken." in page
    status, page = sign_up(
        Visitor(site, "127.0.19.3"), "nils", "nola@\u0441\u043e\u0440\u0443.example"
    )
    assert status == 200 and "nola@\u0441\u043e\u0440\u0443.example" in message(page)
    with sqlite3.connect(database) as connection:
        names = connection.execute(
            'SELECT username FROM "user" WHERE username IN (?, ?, ?)', ("nola", "n0la", "nils")
        ).fetchall()
    assert names == [("nola",)]
    subjects = [m["Subject"].split(": ")[-1] for m in mails_to(mail, "nola@copy.example")]
    assert subjects == ["verify your email address", "your account"]  # its owner is told


def test_sign_up_then_log_in_tells_nobody_whether_the_address_had_an_account(stack):
    """Before: after signing up with a new username, its login said "Invalid username or
    password" when the address was taken (no account made), and "Please verify your email
    address first" when it was free."""
    site, mail, database = stack
    verified(site, mail, database, "127.0.18.1", "olga")  # olga@example.com has an account
    answers = []
    for n, (username, address) in enumerate(
        [("oscar", "olga@example.com"), ("otto", "otto@example.com")]
    ):
        visitor = Visitor(site, f"127.0.18.{n + 2}")
        assert sign_up(visitor, username, address)[0] == 200
        status, page = post_form(visitor, "/auth/login", username=username, password=PASSWORD)
        answers.append((status, message(page)))
    assert answers[0] == answers[1]
    assert answers[0][0] == 200 and "Invalid username or password." in answers[0][1]


@pytest.fixture(scope="module")
def queued(bake_once, baked_python, tmp_path_factory):
    """(site, database file): the stack of production, mails queued in Redis for a worker (as
    compose.prod.yaml runs it; no worker here: the queue is what the requests see)."""
    project = bake_once()
    folder = tmp_path_factory.mktemp("queued")
    with (
        servers.redis() as redis,
        behind_nginx(
            project,
            baked_python,
            folder,
            workers=4,
            TRUSTED_PROXIES="1",
            RATELIMIT_STORAGE_URI=redis.uri,
            JOBS_REDIS_URL=redis.uri,
        ) as site,
    ):
        yield site, folder / "app.sqlite"


def test_forgot_password_takes_as_long_for_any_address(queued):
    """Before: 17.4 against 10.3 ms (medians) for a known and an unknown address."""
    site, database = queued
    with sqlite3.connect(database) as connection:
        connection.execute(
            'INSERT INTO "user" (username, email, email_verified, password_hash, session_token,'
            " is_admin, created_at) VALUES ('olga', 'olga@example.com', 1, 'x', 'y', 0,"
            " '2026-12-07')"
        )
    times = {"olga@example.com": [], "nobody-here@example.com": []}
    for n in range(10):  # 5 a minute from each client (MAIL_RATE_LIMIT)
        visitor = Visitor(site, f"127.0.19.{n + 1}")
        page = visitor.request("GET", "/auth/forgot-password")[1]
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)[1]
        for _ in range(2):
            for address, seen in times.items():
                form = {"csrf_token": token, "email": address}
                started = time.monotonic()
                status, _ = visitor.request(
                    "POST", "/auth/forgot-password", form, referer="/auth/forgot-password"
                )
                seen.append(time.monotonic() - started)
                assert status == 302
    (q1, _, q3), (r1, _, r3) = (statistics.quantiles(seen) for seen in times.values())
    print(
        f"\nforgot-password, ms (quartiles): known {q1 * 1000:.0f}-{q3 * 1000:.0f}, "
        f"unknown {r1 * 1000:.0f}-{r3 * 1000:.0f}"
    )
    assert q1 <= r3 and r1 <= q3  # the middle halves overlap: before, they were apart


def test_postgresql_refuses_to_rewrite_the_trail(baked_python, tmp_path):
    """Before: the app's role could UPDATE, DELETE and TRUNCATE the audit trail: migration 0007
    adds a trigger that refuses them, to every role (the superuser here)."""
    with servers.postgres_project(baked_python, tmp_path) as baked:
        database = baked.project.name
        baked.server.psql(
            "INSERT INTO audit_event (created_at, actor_name, action, target_name) "
            "VALUES (now(), 'x', 'disable', 'y')",
            database,
        )
        for statement in (
            "UPDATE audit_event SET action = 'nothing'",
            "DELETE FROM audit_event",
            "TRUNCATE audit_event",
        ):
            with pytest.raises(RuntimeError, match="only added to"):
                baked.server.psql(statement, database)
        assert baked.server.psql("SELECT action FROM audit_event", database) == "disable"
