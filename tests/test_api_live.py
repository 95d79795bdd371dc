"""The baked API, live: schemathesis against Gunicorn (production settings) and PostgreSQL.

Every operation of /api/openapi.json is fuzzed twice, without a token and with one, by the
schemathesis CLI (coverage and fuzzing phases, a bounded number of examples) with every check
it has: the run fails on any 5xx, any status code, header or content type the document does not
list, any body that breaks its schema, any request the document calls valid that the server
refuses and any invalid one it accepts. Operations that revoke tokens get tokens of their own
users, so they cannot log the rest of the run out. Bodies JSON allows but Python cannot load
(too deep, a number too long) go to every operation that takes a body, checked the same way.
"""

import json
import re
import secrets
import subprocess
import sys

import pytest

import servers
from conftest import clean_env

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery"
# Once 500s: RecursionError, and ValueError from Python's limit on an int's digits.
UNLOADABLE_BODIES = {
    "100,000 nested arrays": "[" * 100_000 + "]" * 100_000,
    "50,000 nested objects": '{"a": ' * 50_000 + "0" + "}" * 50_000,
    "a 5,000-digit number": "7" * 5_000,
}
# Operations that revoke tokens, each fuzzed with the token of a user of its own.
REVOKERS = [("/api/tokens", "DELETE"), ("/api/tokens/{token_id}", "DELETE")]
USERS = ["ada", "revoker0", "revoker1"]

CREATE_USERS = """
import json, sys
from my_flask_app import create_app
from my_flask_app.api.models import ApiToken
from my_flask_app.extensions import db
from my_flask_app.models import User
with create_app().app_context():
    # A token for each, made here: POST /api/tokens is soon rate limited while it is fuzzed.
    tokens = {}
    for name in sys.argv[2:]:
        user = User(username=name, is_admin=name == "ada")  # only administrators list users
        user.set_password(sys.argv[1])
        db.session.add(user)
        db.session.flush()  # gives it an id
        tokens[name] = ApiToken.issue(user)[1]
    db.session.commit()
    print(json.dumps(tokens))
"""


@pytest.fixture(scope="module")
def live_api(baked_python, tmp_path_factory):
    """A default bake on PostgreSQL, with users, served by Gunicorn; yields (server, baked,
    a token of each user by name)."""
    output = tmp_path_factory.mktemp("api-live")
    with servers.postgres_project(baked_python, output) as baked:
        env = clean_env(
            APP_CONFIG="production",
            SECRET_KEY=secrets.token_hex(32),
            BASE_URL="https://localhost",
            DATABASE_URL=baked.url,
            # As behind nginx: X-Forwarded-For names the client, so the body tests below come
            # from an address of their own, which the fuzzing has not rate limited yet.
            TRUSTED_PROXIES="1",
        )
        created = subprocess.run(
            [str(baked_python), "-c", CREATE_USERS, PASSWORD, *USERS, "leaver", "deep"],
            cwd=baked.project,
            env=env,
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        )
        with servers.gunicorn(baked.project, baked_python, env) as server:
            yield server, baked, json.loads(created.stdout.splitlines()[-1])


def toml_headers(token):
    return f'headers = {{ Authorization = "Bearer {token}" }}\n'


def schemathesis_run(server, folder, config):
    """Run the schemathesis CLI of this interpreter with a config file; return its output."""
    config_file = folder / "schemathesis.toml"
    config_file.write_text(config)
    command = [sys.executable, "-m", "schemathesis.cli", "--no-color"]
    command += ["--config-file", str(config_file), "run", f"{server.url}/api/openapi.json"]
    command += ["--checks", "all", "--phases", "examples,coverage,fuzzing"]
    command += ["--max-examples", "10", "--generation-database", "none", "--seed", "1"]
    result = subprocess.run(
        command, cwd=folder, capture_output=True, text=True, timeout=240, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    counts = re.search(r"Test cases:\s+(\d+) generated, (\d+) passed(, \d+ skipped)?\n", output)
    assert counts and counts[1] == counts[2] and int(counts[1]) > 100, output
    return output


def test_tokens_die_with_the_account_in_the_database(live_api):
    _, baked, _ = live_api  # the fixture gave `leaver` a token
    database = baked.project.name
    leaver = baked.server.psql("""SELECT id FROM "user" WHERE username = 'leaver'""", database)
    count = f"SELECT count(*) FROM api_token WHERE user_id = {int(leaver)}"
    assert baked.server.psql(count, database=database) == "1"
    baked.server.psql("""DELETE FROM "user" WHERE username = 'leaver'""", database=database)
    assert baked.server.psql(count, database=database) == "0"


def test_schemathesis_finds_nothing_with_or_without_a_token(live_api, tmp_path):
    server, _, tokens = live_api

    anonymous = schemathesis_run(server, tmp_path, "")
    assert "Selected: 8/8" in anonymous

    config = toml_headers(tokens["ada"])
    for (path, method), user in zip(REVOKERS, USERS[1:], strict=True):
        config += f'\n[[operations]]\ninclude-path = "{path}"\ninclude-method = "{method}"\n'
        config += toml_headers(tokens[user])
    with_token = schemathesis_run(server, tmp_path, config)
    # With a token every operation but POST /api/tokens got past authentication.
    assert "Authentication failed" not in with_token, with_token


@pytest.mark.parametrize("body", UNLOADABLE_BODIES.values(), ids=UNLOADABLE_BODIES)
def test_bodies_python_cannot_load_are_problems_not_errors(live_api, body):
    import schemathesis

    server, _, tokens = live_api
    schema = schemathesis.openapi.from_url(f"{server.url}/api/openapi.json")
    with_body = [result.ok() for result in schema.get_all_operations() if result.ok().body]
    assert {operation.label for operation in with_body} == {
        "POST /api/tokens",
        "PATCH /api/users/me",
    }
    headers = {"Authorization": f"Bearer {tokens['deep']}"}  # a user nothing renames
    headers["X-Forwarded-For"] = f"192.0.2.{list(UNLOADABLE_BODIES.values()).index(body) + 1}"
    for operation in with_body:
        case = operation.Case(body=body.encode(), media_type="application/json")
        response = case.call_and_validate(headers=headers)  # every check
        assert response.status_code == 400, (operation.label, response.text)
        assert response.json()["errors"] == {"json": ["Invalid JSON body."]}
