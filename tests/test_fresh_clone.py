"""A teammate's fresh clone of a baked project: no .env, and the `flask` command means development.

The project is committed and cloned (what the clone has is what git has), then used with the
shared venv activated, as after `pip install -e '.[dev]'`.
"""

import secrets
import subprocess
import urllib.request

import pytest

from conftest import activated_env, git
from servers import answers_http, free_port, stop_process, wait_until

pytestmark = pytest.mark.e2e  # runs `flask run`, a real server


@pytest.fixture
def clone(bake, tmp_path):
    project = bake()
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "Bake")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(project), str(clone))
    assert not (clone / ".env").exists()
    return clone


def flask(clone, env, *args):
    return subprocess.run(
        ["flask", *args], cwd=clone, env=env, capture_output=True, text=True, timeout=120
    )


def test_flask_commands_work_without_env_and_flask_run_says_what_to_do(clone, baked_python):
    env = activated_env(baked_python, clone)
    for args in (["--help"], ["routes"], ["db", "upgrade"]):
        result = flask(clone, env, *args)
        assert result.returncode == 0, f"flask {' '.join(args)}\n{result.stderr}"
        assert "Traceback" not in result.stderr, result.stderr
        assert "alembic.runtime.plugins" not in result.stdout + result.stderr  # no chatter
    assert (clone / "instance" / "my_flask_app.sqlite").exists()

    run = flask(clone, env, "run", "--port", str(free_port()))
    assert run.returncode == 1
    (line,) = run.stderr.strip().splitlines()
    assert line.startswith("Error: SECRET_KEY is not set (no .env?): run `cp .env.example .env`")
    assert 'python3 -c "import secrets; print(secrets.token_hex(32))"' in line


def test_an_exported_secret_runs_development_settings(clone, baked_python):
    # What the old production error told people to do: the checkout still means development.
    env = activated_env(baked_python, clone, SECRET_KEY=secrets.token_hex(32))
    assert flask(clone, env, "db", "upgrade").returncode == 0
    port = free_port()
    log = clone.parent / "flask-run.log"
    with open(log, "w") as out:
        command = ["flask", "run", "--port", str(port), "--no-reload"]
        server = subprocess.Popen(command, cwd=clone, env=env, stdout=out, stderr=out)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: answers_http(f"{url}/healthz"), "flask run", server, log)
        with urllib.request.urlopen(f"{url}/auth/login", timeout=5) as response:
            cookie = response.headers["Set-Cookie"]
    finally:
        stop_process(server)
    # Production marks the session cookie Secure (HTTPS only); development does not.
    assert cookie.startswith("session=") and "Secure" not in cookie, cookie
