"""A PostgreSQL bake without Docker: docs/postgresql.md's commands make its database, and the
tests and the CI workflow run the project's suite on PostgreSQL.

Those commands run as written, as root with no sudo, on a machine where Debian's
PostgreSQL is installed but its cluster is down (no systemd started it): containers, WSL and CI
runners look like this. The cluster is a new one on a free port (PGPORT names it, as libpq
reads it), dropped afterwards.
"""

import os
import re
import secrets
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import activated_env
from pythons import interpreter, missing_reason, user_env
from servers import debian_cluster, free_port, postgres, wait_until

pytestmark = pytest.mark.e2e

NO_SUDO = """#!/bin/sh
echo "sudo: command not found" >&2
exit 127
"""


def page_blocks(project, page):
    """The shell code blocks of one page of the project's docs/."""
    text = (project / "docs" / page).read_text()
    return re.findall(r"^```sh\n(.*?)^```", text, re.MULTILINE | re.DOTALL)


def set_database_url(project, old, new):
    """Point DATABASE_URL in .env elsewhere, as a user with another host or port would."""
    env = project / ".env"
    text = env.read_text()
    assert old in text
    env.write_text(text.replace(old, new))


def shell(command, project, env):
    return subprocess.run(
        ["bash", "-eo", "pipefail", "-c", command],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_an_unreachable_database_is_named_in_one_line(bake, baked_python):
    """Nothing listens: `flask db upgrade` says where it tried, in one line, without the
    password. The app's logging has it, as a record (text in development) on stdout."""
    project = bake(database="postgresql", project_slug="shop")
    password = dict(
        line.split("=", 1) for line in (project / ".env").read_text().splitlines() if line
    )["POSTGRES_PASSWORD"]
    nowhere = f"127.0.0.1:{free_port()}"
    set_database_url(project, "localhost:5432", nowhere)
    upgrade = shell("flask db upgrade", project, activated_env(baked_python, project))
    assert upgrade.returncode == 1
    output = upgrade.stdout + upgrade.stderr
    errors = [line for line in output.splitlines() if " ERROR " in line]
    assert len(errors) == 1, output
    assert (
        f"cannot connect to the database at postgresql+psycopg://shop:***@{nowhere}/shop"
        in errors[0]
    )
    assert "Connection refused" in errors[0] and password not in output


def test_readme_commands_start_the_cluster_make_the_database_and_run_the_tests_as_root(
    bake, tmp_path
):
    python = interpreter("3.12") or pytest.skip(missing_reason("3.12"))
    project = bake(database="postgresql", project_slug="shop")
    create, run_tests = page_blocks(project, "postgresql.md")
    no_sudo = tmp_path / "bin"  # as in a container: calling sudo fails
    no_sudo.mkdir()
    (no_sudo / "sudo").write_text(NO_SUDO)
    (no_sudo / "sudo").chmod(0o755)
    with debian_cluster() as cluster:
        assert cluster.status() == "down"
        set_database_url(project, "localhost:5432", f"127.0.0.1:{cluster.port}")
        env = user_env(python, PGPORT=str(cluster.port))
        env["PATH"] = f"{no_sudo}:{env['PATH']}"

        made = shell(create, project, env)
        assert made.returncode == 0, create + made.stdout + made.stderr
        assert cluster.status() == "online"
        owner = "SELECT tableowner FROM pg_tables WHERE tablename = 'user'"
        assert cluster.psql(owner, "shop") == "shop"  # migrated, by the project's own role

        # The second block, in the same shell as the first (which defined as_postgres).
        tested = shell(create.split("\n(\n", 1)[0] + "\n" + run_tests, project, env)
        assert tested.returncode == 0, run_tests + tested.stdout + tested.stderr
        assert re.search(r"\d+ passed", tested.stdout), tested.stdout
        # The migration test ran on PostgreSQL: Alembic's table is left in the test database.
        assert cluster.psql("SELECT to_regclass('alembic_version')", "shop_test") == (
            "alembic_version"
        )


def test_ci_workflow_runs_the_tests_on_its_postgresql_service(bake, baked_python):
    sqlite_job = yaml.safe_load((bake() / ".github/workflows/ci.yml").read_text())["jobs"]["test"]
    assert "services" not in sqlite_job
    assert "TEST_DATABASE_URL" not in sqlite_job.get("env", {})

    project = bake(database="postgresql")
    workflow_text = (project / ".github/workflows/ci.yml").read_text()
    assert "{%" not in workflow_text and "{{" not in workflow_text
    job = yaml.safe_load(workflow_text)["jobs"]["test"]
    service = job["services"]["postgres"]
    assert service["ports"] == ["5432:5432"]
    credentials = service["env"]
    url = job["env"]["TEST_DATABASE_URL"]
    assert url == (
        f"postgresql+psycopg://{credentials['POSTGRES_USER']}:{credentials['POSTGRES_PASSWORD']}"
        f"@localhost:5432/{credentials['POSTGRES_DB']}"
    )
    # The test job's checks are bin/ci's, and the last of them is pytest.
    (test_step,) = [step for step in job["steps"] if step.get("run", "").startswith("bin/ci")]
    assert re.findall(r"^step .*", (project / "bin/ci").read_text(), re.MULTILINE)[-1].endswith(
        'pytest "$@"'
    )

    with postgres() as server:
        # What the service container starts with, made in the throwaway cluster.
        user, db = credentials["POSTGRES_USER"], credentials["POSTGRES_DB"]
        server.psql(f"CREATE ROLE {user} LOGIN PASSWORD '{credentials['POSTGRES_PASSWORD']}'")
        server.psql(f"CREATE DATABASE {db} OWNER {user}")
        local_url = url.replace("localhost:5432", f"127.0.0.1:{server.port}")
        # The shared venv stands in for the environment CI installs: bin/ci on its pip path
        # (no uv), as tests/test_tooling.py runs it.
        venv = baked_python.parent.parent
        env = activated_env(
            baked_python,
            project,
            TEST_DATABASE_URL=local_url,
            MYPY_CACHE_DIR=str(venv / "mypy-cache"),
        )
        env["PATH"] = os.pathsep.join(
            folder for folder in env["PATH"].split(os.pathsep) if not Path(folder, "uv").exists()
        )
        env["SECRET_KEY"] = secrets.token_hex(32)  # must not matter: tests use their own
        tested = shell(test_step["run"], project, env)
        assert tested.returncode == 0, tested.stdout + tested.stderr
        assert re.search(r"^==> pytest\b", tested.stdout, re.MULTILINE), tested.stdout
        assert re.search(r"\d+ passed", tested.stdout), tested.stdout
        assert server.psql("SELECT to_regclass('alembic_version')", db) == "alembic_version"
        # Rows went into it (the backends report their counts as they exit).
        inserted = f"SELECT tup_inserted FROM pg_stat_database WHERE datname = '{db}'"
        wait_until(lambda: int(server.psql(inserted)) > 0, "rows counted in the test database")
