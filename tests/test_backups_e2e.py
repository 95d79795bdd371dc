"""The restore drill on a real PostgreSQL: accounts and an API token made, `flask backup create`
(pg_dump of the server's own major version), the database dropped and made again empty,
`flask backup restore` (pg_restore), then the same password logs in through the API and the
same token is accepted, by Gunicorn with the shipped gunicorn.conf.py.
"""

import json
import secrets
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import servers
from conftest import clean_env

pytestmark = pytest.mark.e2e

PASSWORD = "a quiet heron at dawn"

CREATE_ACCOUNT = """
import sys
from my_flask_app import create_app
from my_flask_app.api.models import ApiToken
from my_flask_app.extensions import db
from my_flask_app.models import User
with create_app().app_context():
    user = User(username="ada", email="ada@example.com", email_verified=True)
    user.set_password(sys.argv[1])
    db.session.add(user)
    db.session.flush()
    token = ApiToken.issue(user)[1]
    db.session.commit()
    print(token)
"""


def call(url, data=None, token=None):
    """(status, JSON body) of an API request."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = json.dumps(data).encode() if data is not None else None
    request = urllib.request.Request(url, body, headers, method="POST" if body else "GET")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def test_a_dropped_database_comes_back_from_its_backup(baked_python, tmp_path):
    flask = str(Path(baked_python).parent / "flask")
    with servers.postgres_project(baked_python, tmp_path) as baked:
        env = clean_env(
            APP_CONFIG="production",
            SECRET_KEY=secrets.token_hex(32),
            BASE_URL="https://localhost",
            DATABASE_URL=baked.url,
            BACKUP_DIR=str(tmp_path / "backups"),
            SESSION_COOKIE_SECURE="0",
            # pg_dump and pg_restore of the server's own version, as postgresql-client gives
            PATH=f"{baked.server.bin}:{clean_env()['PATH']}",
        )

        def run(*args, check=True):
            done = subprocess.run(
                args, cwd=baked.project, env=env, capture_output=True, text=True, timeout=120
            )
            assert not check or done.returncode == 0, done.stdout + done.stderr
            return done

        token = run(str(baked_python), "-c", CREATE_ACCOUNT, PASSWORD).stdout.split()[-1]
        started = time.monotonic()
        backup = run(flask, "backup", "create").stdout.splitlines()[-1]  # after the log line
        took = time.monotonic() - started
        assert backup.endswith(".dump") and backup in run(flask, "backup", "list").stdout

        # The disaster: the database is gone, and made again empty.
        server, name = baked.server, baked.project.name
        server.psql(f"DROP DATABASE {name} WITH (FORCE)")
        server.psql(f"CREATE DATABASE {name} OWNER {name}")
        assert server.psql("SELECT count(*) FROM pg_tables WHERE schemaname='public'", name) == "0"

        refused = run(flask, "backup", "restore", backup, check=False)  # no --yes: asks first
        assert refused.returncode == 1 and "Aborted" in refused.stdout + refused.stderr
        started = time.monotonic()
        run(flask, "backup", "restore", "--yes", backup)
        restored = time.monotonic() - started
        missing = run(flask, "backup", "restore", "--yes", "/nonexistent.dump", check=False)
        assert missing.returncode == 2 and "does not exist" in missing.stderr
        print(f"\nbackup {took:.2f} s, restore {restored:.2f} s, {Path(backup).stat().st_size} B")

        with servers.gunicorn(baked.project, baked_python, env) as web:
            me = call(f"{web.url}/api/users/me", token=token)
            new = call(f"{web.url}/api/tokens", {"username": "ada", "password": PASSWORD})
        assert me[0] == 200 and me[1]["username"] == "ada"
        assert new[0] == 201 and new[1]["token"]
