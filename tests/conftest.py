"""Shared fixtures: bake the template in process, and run baked projects in one shared venv."""

import fcntl
import hashlib
import os
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest

TEMPLATE = Path(__file__).resolve().parent.parent
TEMPLATE_PYPROJECT = TEMPLATE / "{{cookiecutter.project_slug}}" / "pyproject.toml"
VENV_ROOT = TEMPLATE / ".cache" / "baked-venv"


@pytest.fixture
def bake(cookies):
    """Bake the template with some answers changed; return the project's path.

    Fails the test with cookiecutter's exception when the bake does not succeed.
    """

    def bake(**answers):
        result = cookies.bake(extra_context=answers)
        if result.exit_code != 0:
            raise AssertionError(f"bake failed: {result.exception!r}")
        return result.project_path

    return bake


def baked_requirements(project):
    """The runtime and dev dependencies a baked project declares."""
    data = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    return [*data["dependencies"], *data["optional-dependencies"]["dev"]]


def ensure_venv(project):
    """One venv holding every dependency of a baked project, made once for all workers.

    Its folder is named after the hash of the template's pyproject.toml, so a change to the
    baked dependencies makes a new one; a lock keeps xdist workers from building it twice.
    """
    digest = hashlib.sha256(TEMPLATE_PYPROJECT.read_bytes()).hexdigest()[:12]
    path = VENV_ROOT / digest
    python = path / "bin" / "python"
    VENV_ROOT.mkdir(parents=True, exist_ok=True)
    with open(VENV_ROOT / f"{digest}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (path / "ready").exists():
            venv.create(path, with_pip=True, clear=True)
            pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
            subprocess.run([*pip, *baked_requirements(project)], check=True)
            (path / "ready").touch()
    return python


@pytest.fixture(scope="session")
def baked_python(tmp_path_factory):
    """The interpreter of the shared venv; baked with PostgreSQL so its driver is in too."""
    from cookiecutter.main import cookiecutter

    output = tmp_path_factory.mktemp("venv-bake")
    project = cookiecutter(
        str(TEMPLATE),
        no_input=True,
        output_dir=str(output),
        extra_context={"database": "postgresql"},
    )
    return ensure_venv(Path(project))


def clean_env(**extra):
    """The environment for a baked project's processes, without this session's Flask settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "APP_"))}
    env.pop("SECRET_KEY", None)
    env.pop("DATABASE_URL", None)
    env.update(extra)
    return env


@pytest.fixture
def run_in_project(baked_python):
    """Run a command of the shared venv (python, flask, ruff, ...) inside a baked project."""

    def run(project, *args, env=None, timeout=300):
        exe = args[0]
        command = [str(baked_python) if exe == "python" else str(baked_python.parent / exe)]
        return subprocess.run(
            [*command, *args[1:]],
            cwd=project,
            env=clean_env(**(env or {})),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


GIT = ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com"]


def git(cwd, *args):
    """Run git with a throwaway identity; fail the test if git fails."""
    return subprocess.run(
        [*GIT, "-c", "init.defaultBranch=main", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    )


def pytest_report_header():
    return f"template: {TEMPLATE} (python {sys.version.split()[0]})"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Under CI an end-to-end test may not skip: CI installs every program they need."""
    report = yield
    if os.environ.get("CI") and report.skipped and item.get_closest_marker("e2e"):
        report.outcome = "failed"
        report.longrepr = f"e2e test skipped under CI: {report.longrepr}"
    return report
