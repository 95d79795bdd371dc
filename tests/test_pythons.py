"""Every `python_version` a bake offers is proven on that Python: a default bake and a PostgreSQL
bake pass their own suites in a virtual environment made with it, through uv or pip (both on
the default Python, one of them here), as a user with that Python installed runs them (the
baked README's commands).

The other tests run baked suites with the template suite's own interpreter (3.11 here), which
never sees what a newer Python deprecates.
"""

import json
import re
import subprocess

import pytest

from pythons import OFFERED, interpreter, missing_reason, user_env

pytestmark = pytest.mark.e2e  # uv and pip reach PyPI (or their caches) for the packages

BAKES = {"defaults": {}, "postgresql": {"database": "postgresql"}}


def run(command, project, env, timeout=600):
    """One shell command in the project, as typed; fails the test with its output."""
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", command],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"{command}\n{done.stdout}{done.stderr}"
    return done.stdout


def python_of_venv(project):
    """The X.Y version of the project's .venv, from the file venv writes."""
    config = (project / ".venv" / "pyvenv.cfg").read_text()
    return re.search(r"^version(?:_info)? = (\d+\.\d+)", config, re.MULTILINE).group(1)


def needs(version):
    python = interpreter(version)
    if python is None:
        pytest.skip(missing_reason(version))
    return python


# The baked README's two ways in, as typed: uv installs uv.lock's versions (CI's steps too),
# pip the same versions through constraints.txt, with the dev group (pip 25.1 or newer).
PIP_INSTALL = ".venv/bin/pip install -q -c constraints.txt -e . --group dev"
INSTALLERS = {
    "uv": (["uv sync --locked"], "uv run pytest"),
    "pip": (
        ["python3 -m venv --upgrade-deps .venv", PIP_INSTALL],
        ".venv/bin/python -m pytest",
    ),
}


def normalized(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_outside_the_lock(project, env):
    """The packages in .venv (but pip, the project and what venv brings) whose version is
    not the one constraints.txt pins, as name==version."""
    pinned = set()
    for line in (project / "constraints.txt").read_text().splitlines():
        requirement = line.split(";")[0].strip()
        if requirement and not requirement.startswith("#"):
            name, version = requirement.split("==")
            pinned.add((normalized(name), version))
    listed = run(".venv/bin/pip list --format=json --exclude-editable", project, env)
    found = {(normalized(p["name"]), p["version"]) for p in json.loads(listed)}
    return sorted(f"{n}=={v}" for n, v in found - pinned if n not in {"pip", "setuptools"})


# Both installers take the lock's versions (pip through constraints.txt), so each Python is
# proven with uv, and pip's own path (the constraints, the dependency group, the build
# backend) on the Python a bake offers first, the default. That Python's uv path is the baked
# CI job's own (`uv sync --locked`, then bin/ci), run for both bakes on a fresh checkout by
# test_tooling.py's test_workflow_test_job_passes_on_a_fresh_checkout: not twice here. The
# newest versions the bounds allow are the weekly early-warning workflow's job, not this suite's.
CASES = [(version, "pip" if version == OFFERED[0] else "uv") for version in OFFERED]


@pytest.mark.parametrize("bake_name", BAKES)
@pytest.mark.parametrize("version, installer", CASES)
def test_the_baked_suite_passes_on_the_python_it_names(version, bake_name, installer, bake_copy):
    """.python-version picks the Python (the first on PATH here), the installer the rest."""
    env = user_env(needs(version))
    project = bake_copy(python_version=version, **BAKES[bake_name])
    install, pytest_command = INSTALLERS[installer]
    for command in install:
        run(command, project, env)
    assert python_of_venv(project) == version
    if installer == "pip":  # the versions uv.lock holds, not the newest ones
        assert installed_outside_the_lock(project, env) == []
    output = run(f"{pytest_command} -q -p no:cacheprovider", project, env)
    assert re.search(r"\d+ passed", output) and "failed" not in output, output


def test_a_deprecation_in_the_projects_own_code_still_fails_its_tests(bake_copy):
    """Only Flask-Login's known warning is ignored (by message and module): the same warning
    raised from the project's own code is still an error."""
    version = "3.12"  # the first Python where datetime.utcnow() is deprecated
    env = user_env(needs(version))
    project = bake_copy(python_version=version)
    (project / "my_flask_app" / "clock.py").write_text(
        "import datetime\n\n\ndef now():\n    return datetime.datetime.utcnow()\n"
    )
    (project / "tests" / "test_clock.py").write_text(
        "from my_flask_app.clock import now\n\n\ndef test_now():\n    assert now()\n"
    )
    run("uv sync --locked", project, env)
    done = subprocess.run(
        ["uv", "run", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_clock.py"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "DeprecationWarning: datetime.datetime.utcnow() is deprecated" in done.stdout


def test_another_python_with_uv_as_the_readme_says(bake_copy):
    """docs/development.md's two ways to another Python keep the dev tools and that Python: a
    single `uv run --python 3.11 pytest`, and `uv python pin 3.11 && uv sync` for good. (Before the
    dev tools were a dependency group, `uv sync --python 3.11 --extra dev` was undone by the
    next `uv run`, which rebuilt .venv on .python-version's Python without them.)"""
    env = user_env(needs("3.11"))
    project = bake_copy()  # .python-version says 3.12
    guide = (project / "docs" / "development.md").read_text()
    assert "`uv run --python 3.11 pytest`" in guide and "uv python pin 3.11 && uv sync\n" in guide

    output = run(
        "uv run --python 3.11 pytest -q -p no:cacheprovider tests/test_factory.py", project, env
    )
    assert " passed" in output and python_of_venv(project) == "3.11"

    run("uv python pin 3.11 && uv sync", project, env)
    output = run("uv run pytest -q -p no:cacheprovider tests/test_factory.py", project, env)
    assert " passed" in output and python_of_venv(project) == "3.11"
    assert (project / ".python-version").read_text().strip() == "3.11"
