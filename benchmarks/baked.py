"""A freshly baked project, the shared venv that runs it, and a production environment."""

import contextlib
import secrets
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TEMPLATE / "tests"))
from conftest import clean_env, ensure_venv  # noqa: E402  (the venv the tests share)
from cookiecutter_cli import cookiecutter_cli  # noqa: E402


def bake(output, **answers):
    """Bake with the CLI, defaults plus `answers`, as a user would (a temporary HOME)."""
    result = cookiecutter_cli(output / "home", "--no-input", "-o", output / "out", **answers)
    assert result.returncode == 0, result.stderr
    (project,) = (output / "out").iterdir()
    return project


def production_env():
    """Gunicorn's environment: production settings as shipped, a real random secret, SQLite.
    wrk speaks plain HTTP to Gunicorn, as nginx does; the pages measured are GETs, which the
    Secure cookie flag does not change."""
    return clean_env(
        APP_CONFIG="production",
        SECRET_KEY=secrets.token_hex(32),
        BASE_URL="https://localhost",  # required in production; wrk asks for 127.0.0.1 (trusted)
        DATABASE_URL="sqlite:///benchmark.sqlite",  # a relative path lands in the instance folder
    )


def upgrade_database(python, project, env):
    """Create the tables, as a deployment does before the first start."""
    command = [python.parent / "flask", "db", "upgrade"]
    subprocess.run(command, cwd=project, env=env, check=True, capture_output=True, timeout=120)


@dataclass
class Scratch:
    folder: Path  # removed at the end
    python: Path  # the shared venv's interpreter
    project: Path  # a default bake, its tables created
    env: dict  # production_env()


@contextlib.contextmanager
def scratch_project(prefix):
    """A default bake in a temporary folder, migrated and ready to serve in production."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        folder = Path(tmp)
        python = ensure_venv()
        project = bake(folder / "app")
        env = production_env()
        upgrade_database(python, project, env)
        yield Scratch(folder, python, project, env)
