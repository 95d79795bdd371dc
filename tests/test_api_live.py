"""The baked API, live: schemathesis against Gunicorn (production settings) and PostgreSQL.

Every operation of /api/openapi.json is fuzzed twice, without a token and with one, by the
schemathesis CLI (coverage and fuzzing phases, a bounded number of examples). The run fails on
any 5xx, any status code or content type the document does not list, and any body that breaks
its schema. Operations that revoke tokens get tokens of their own users, so they cannot log
the rest of the run out.
"""

import json
import re
import secrets
import subprocess
import sys
import urllib.request

import pytest

import servers
from conftest import clean_env

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery"
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
]
# Operations that revoke tokens, each fuzzed with the token of a user of its own.
REVOKERS = [("/api/tokens", "DELETE"), ("/api/tokens/{token_id}", "DELETE")]
USERS = ["ada", "revoker0", "revoker1"]

CREATE_USERS = """
import sys
from my_flask_app import create_app
from my_flask_app.extensions import db
from my_flask_app.models import User
with create_app().app_context():
    for name in sys.argv[2:]:
        user = User(username=name, is_admin=name == "ada")  # only administrators list users
        user.set_password(sys.argv[1])
        db.session.add(user)
    db.session.commit()
"""


@pytest.fixture(scope="module")
def live_api(baked_python, tmp_path_factory):
    """A default bake on PostgreSQL, with users, served by Gunicorn; yields (server, env)."""
    output = tmp_path_factory.mktemp("api-live")
    with servers.postgres_project(baked_python, output) as baked:
        env = clean_env(
            APP_CONFIG="production",
            SECRET_KEY=secrets.token_hex(32),
            DATABASE_URL=baked.url,
        )
        subprocess.run(
            [str(baked_python), "-c", CREATE_USERS, PASSWORD, *USERS, "leaver"],
            cwd=baked.project,
            env=env,
            check=True,
            timeout=60,
        )
        with servers.gunicorn(baked.project, baked_python, env) as server:
            yield server, baked


def post_json(url, body, headers=None):
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())


def token_for(server, username):
    status, body = post_json(
        f"{server.url}/api/tokens", {"username": username, "password": PASSWORD}
    )
    assert status == 201
    return body["token"]


def toml_headers(token):
    return f'headers = {{ Authorization = "Bearer {token}" }}\n'


def schemathesis_run(server, folder, config):
    """Run the schemathesis CLI of this interpreter with a config file; return its output."""
    config_file = folder / "schemathesis.toml"
    config_file.write_text(config)
    command = [sys.executable, "-m", "schemathesis.cli", "--no-color"]
    command += ["--config-file", str(config_file), "run", f"{server.url}/api/openapi.json"]
    command += ["--checks", ",".join(CHECKS), "--phases", "examples,coverage,fuzzing"]
    command += ["--max-examples", "10", "--generation-database", "none", "--seed", "1"]
    result = subprocess.run(
        command, cwd=folder, capture_output=True, text=True, timeout=240, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    counts = re.search(r"Test cases:\s+(\d+) generated, (\d+) passed\n", output)
    assert counts and counts[1] == counts[2] and int(counts[1]) > 100, output
    return output


def test_tokens_die_with_the_account_in_the_database(live_api):
    server, baked = live_api
    token_for(server, "leaver")
    database = baked.project.name
    count = "SELECT count(*) FROM api_token"
    assert baked.server.psql(count, database=database) == "1"
    baked.server.psql("""DELETE FROM "user" WHERE username = 'leaver'""", database=database)
    assert baked.server.psql(count, database=database) == "0"


def test_schemathesis_finds_nothing_with_or_without_a_token(live_api, tmp_path):
    server, _ = live_api
    # Tokens first: fuzzing POST /api/tokens soon meets its rate limit (429, documented).
    tokens = {name: token_for(server, name) for name in USERS}

    anonymous = schemathesis_run(server, tmp_path, "")
    assert "Selected: 8/8" in anonymous

    config = toml_headers(tokens["ada"])
    for (path, method), user in zip(REVOKERS, USERS[1:], strict=True):
        config += f'\n[[operations]]\ninclude-path = "{path}"\ninclude-method = "{method}"\n'
        config += toml_headers(tokens[user])
    with_token = schemathesis_run(server, tmp_path, config)
    # With a token every operation but POST /api/tokens got past authentication.
    assert "Authentication failed" not in with_token, with_token
