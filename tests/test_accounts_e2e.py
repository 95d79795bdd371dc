"""Accounts on PostgreSQL: the accounts migration up and down, and sign-ups racing for
one name through Gunicorn."""

import http.cookiejar
import json
import re
import secrets
import subprocess
import threading
import urllib.error
import urllib.request
from urllib.parse import urlencode

import pytest

import servers
from conftest import clean_env

pytestmark = pytest.mark.e2e

MIGRATE_DOWN_AND_UP = """
import json, sys
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import Migrate, downgrade, upgrade
from sqlalchemy import inspect, text
from my_flask_app import create_app
from my_flask_app.extensions import db

app = create_app({"SQLALCHEMY_DATABASE_URI": sys.argv[1]})
Migrate(app, db, directory="migrations")

def differences():
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection)
        return [str(item) for item in compare_metadata(context, db.metadata)]

with app.app_context():
    report = {"at_head": differences()}
    downgrade(revision="0001")
    report["columns_at_0001"] = sorted(c["name"] for c in inspect(db.engine).get_columns("user"))
    with db.engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO \\"user\\" (username, password_hash, created_at) "
            "VALUES ('Ada', 'x', now()), ('bob', 'x', now())"
        ))
    upgrade()
    report["upgraded_again"] = differences()
    with db.engine.connect() as connection:
        report["rows"] = [list(row) for row in connection.execute(text(
            'SELECT username, email, email_verified, length(session_token) FROM "user" '
            "ORDER BY id"
        ))]
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def postgres_bake(baked_python, tmp_path_factory):
    with servers.postgres_project(baked_python, tmp_path_factory.mktemp("accounts")) as baked:
        yield baked


def test_accounts_migration_down_and_up_on_postgresql(postgres_bake, baked_python):
    result = subprocess.run(
        [str(baked_python), "-c", MIGRATE_DOWN_AND_UP, postgres_bake.url],
        cwd=postgres_bake.project,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["at_head"] == [] and report["upgraded_again"] == []
    assert report["columns_at_0001"] == ["created_at", "id", "password_hash", "username"]
    assert report["rows"] == [["ada", None, False, 43], ["bob", None, False, 43]]


def sign_up_form(site):
    """A browser-like client that has loaded the sign-up page over HTTPS through nginx: its
    opener (cookies, the site's certificate trusted) and CSRF token."""
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
        urllib.request.HTTPSHandler(context=site.ssl_context()),
    )
    with opener.open(f"{site.url}/auth/register", timeout=10) as page:
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.read().decode())[1]
    return opener, token


def test_concurrent_sign_ups_of_one_name_make_one_account(postgres_bake, baked_python):
    env = clean_env(
        APP_CONFIG="production",
        SECRET_KEY=secrets.token_hex(32),
        DATABASE_URL=postgres_bake.url,
        TRUSTED_PROXIES="1",  # nginx in front, as shipped
        # Twelve sign-ups from one address in a second: this test is about the race, and
        # the sign-up limit (tested in the baked suite) would turn most of them away.
        REGISTER_RATE_LIMIT="100 per minute",
    )
    with servers.smtp() as mail:
        env |= {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(mail.port)}
        with (
            servers.gunicorn(postgres_bake.project, baked_python, env, workers=4) as app,
            servers.nginx(postgres_bake.project, [app.address]) as site,
        ):
            clients = [sign_up_form(site) for _ in range(12)]
            start = threading.Barrier(len(clients))
            statuses = []

            def sign_up(n, opener, token):
                form = {"csrf_token": token, "username": "Racer", "email": f"r{n}@example.com"}
                form |= {"password": "a long password", "confirm": "a long password"}
                url = f"{site.url}/auth/register"
                # Flask-WTF checks the Referer over HTTPS, as browsers send it.
                request = urllib.request.Request(url, urlencode(form).encode(), {"Referer": url})
                start.wait()
                try:
                    with opener.open(request, timeout=30) as response:
                        statuses.append((response.status, response.url))
                except urllib.error.HTTPError as error:
                    statuses.append((error.code, error.url))

            threads = [
                threading.Thread(target=sign_up, args=(n, *client))
                for n, client in enumerate(clients)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
    assert all(status == 200 for status, _ in statuses), statuses  # never a 500
    landed_on_login = [url for _, url in statuses if url.endswith("/auth/login")]
    assert len(landed_on_login) == 1, statuses
    rows = postgres_bake.server.psql(
        """SELECT username FROM "user" WHERE username = 'racer'""", postgres_bake.project.name
    )
    assert rows == "racer"
