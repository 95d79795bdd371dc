"""The baked project's tooling: CI workflow, pre-commit and Dependabot are valid and pass.

GitHub runs the workflow on a fresh checkout, so the steps here run on a git clone of the
baked project (no .env, nothing ignored), with uv installing from the project's uv.lock.
"""

import os
import re
import shutil
import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml

from conftest import activated_env, clean_env, git
from pythons import interpreter, missing_reason, user_env

SLUG = "my_flask_app"
WORKFLOW = ".github/workflows/ci.yml"
DEPENDABOT = ".github/dependabot.yml"
PRE_COMMIT = ".pre-commit-config.yaml"


def checkout(project, tmp_path):
    """What actions/checkout gives the workflow: the committed files alone."""
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "Bake")
    clone = tmp_path / "checkout"
    git(tmp_path, "clone", "-q", str(project), str(clone))
    return clone


def load(project, name):
    return yaml.safe_load((project / name).read_text())


def run_steps(job):
    return [step["run"] for step in job["steps"] if "run" in step]


@pytest.mark.parametrize("use_docker", [True, False])
def test_workflow_and_dependabot_match_github_schemas(bake_once, use_docker):
    project = bake_once(use_docker=use_docker)
    for name, schema in [(WORKFLOW, "vendor.github-workflows"), (DEPENDABOT, "vendor.dependabot")]:
        result = subprocess.run(
            [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, project / name],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("use_docker", [True, False])
def test_dependabot_updates_docker_images_only_with_docker(bake_once, use_docker):
    project = bake_once(use_docker=use_docker)
    ecosystems = {update["package-ecosystem"] for update in load(project, DEPENDABOT)["updates"]}
    expected = {"uv", "github-actions", "pre-commit"} | ({"docker"} if use_docker else set())
    assert ecosystems == expected


def test_workflow_sets_up_the_chosen_python(bake_once):
    project = bake_once(python_version="3.13")
    setup = next(
        s
        for s in load(project, WORKFLOW)["jobs"]["test"]["steps"]
        if "setup-python" in s.get("uses", "")
    )
    assert (project / setup["with"]["python-version-file"]).read_text().strip() == "3.13"


@pytest.mark.parametrize("use_docker", [True, False])
def test_workflow_builds_the_image_when_a_dockerfile_exists(bake_once, use_docker):
    project = bake_once(use_docker=use_docker)
    (build,) = [
        s
        for s in load(project, WORKFLOW)["jobs"]["image"]["steps"]
        if "docker build" in s.get("run", "")
    ]
    assert build["if"] == "hashFiles('Dockerfile') != ''"
    assert (project / "Dockerfile").exists() == use_docker


@pytest.mark.e2e  # uv reaches PyPI (or its cache) for the locked packages, as on GitHub
@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_workflow_test_job_passes_on_a_fresh_checkout(bake, tmp_path, database):
    """The job's steps for real, on the Python `.python-version` names (as setup-python reads
    it): the locked versions installed by `uv sync --locked` into the checkout's own .venv,
    then lint and the project's tests run from there."""
    clone = checkout(bake(database=database), tmp_path)
    assert not (clone / ".env").exists()
    version = (clone / ".python-version").read_text().strip()
    python = interpreter(version) or pytest.skip(missing_reason(version))
    steps = run_steps(load(clone, WORKFLOW)["jobs"]["test"])
    assert steps[0] == "uv sync --locked"
    for command in steps:
        result = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", command],
            cwd=clone,
            env=user_env(python),
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, f"{command}\n{result.stdout}{result.stderr}"
    assert (clone / ".venv" / "bin" / "pytest").exists()  # the tests ran from the lock's venv
    assert f"version_info = {version}" in (clone / ".venv" / "pyvenv.cfg").read_text()
    assert "passed" in result.stdout


@pytest.mark.e2e  # pip reaches PyPI for the build backend
def test_plain_pip_install_still_works_without_uv(bake, baked_python):
    """The README's other way in: pip reads pyproject.toml alone and ignores uv.lock. (The
    whole pip path, on every Python: tests/test_pythons.py.)"""
    project = bake(database="postgresql")
    command = [str(baked_python), "-m", "pip", "install", "--dry-run", "-q", "-e", "."]
    result = subprocess.run(
        command, cwd=project, env=clean_env(), capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout + result.stderr
    shown = readme_commands((project / "README.md").read_text())
    assert {
        "python3 -m venv --upgrade-deps .venv",
        "pip install -c constraints.txt -e . --group dev",
    } <= shown


def readme_commands(readme):
    """Commands the README shows: lines of its code blocks and `code` spans, split at &&."""
    blocks = re.findall(r"^```\w*\n(.*?)^```", readme, re.MULTILINE | re.DOTALL)
    shown = [line for block in blocks for line in block.splitlines()]
    shown += re.findall(r"`([^`\n]+)`", re.sub(r"^```.*?^```", "", readme, flags=re.M | re.S))
    return {part.strip() for line in shown for part in line.split("&&")}


def test_readme_or_agents_md_shows_the_commands_ci_runs(bake_once):
    project = bake_once()
    shown = readme_commands((project / "README.md").read_text())
    shown |= readme_commands((project / "AGENTS.md").read_text())
    for command in run_steps(load(project, WORKFLOW)["jobs"]["test"]):
        assert command in shown


def test_ci_runs_bin_ci_after_installing_the_lock(bake_once):
    project = bake_once()
    assert run_steps(load(project, WORKFLOW)["jobs"]["test"]) == ["uv sync --locked", "bin/ci"]
    assert os.access(project / "bin" / "ci", os.X_OK)


@pytest.mark.slow  # mypy and part of the baked suite: 20-70 s (test_mypy_strict_... is fast)
def test_bin_ci_runs_what_ci_runs_on_the_pip_path(bake, baked_python, tmp_path):
    """`bin/ci` without uv: ruff, the format check, mypy and pytest from the activated venv,
    arguments passed to pytest; the first failing check stops it. (With uv, from the lock:
    test_workflow_test_job_passes_on_a_fresh_checkout.)"""
    project = bake()
    venv_bin = baked_python.parent
    path = [venv_bin, *(p for p in os.environ["PATH"].split(os.pathsep) if p)]
    env = activated_env(baked_python, project, MYPY_CACHE_DIR=str(venv_bin.parent / "mypy-cache"))
    env["PATH"] = os.pathsep.join(str(p) for p in path if not (Path(p) / "uv").exists())
    assert shutil.which("uv", path=env["PATH"]) is None

    def bin_ci(*args):
        return subprocess.run(
            ["bin/ci", *args], cwd=project, env=env, capture_output=True, text=True, timeout=600
        )

    result = bin_ci("-q", "-p", "no:cacheprovider", "tests/test_config.py")
    assert result.returncode == 0, result.stdout + result.stderr
    steps = re.findall(r"^==> (.*)$", result.stdout, re.MULTILINE)
    assert steps == [
        "ruff check .",
        "ruff format --check .",
        "mypy",
        "pytest -q -p no:cacheprovider tests/test_config.py",
        "all checks passed",
    ]
    assert " passed" in result.stdout
    config = project / SLUG / "config.py"
    config.write_text(config.read_text().replace("MIN_SECRET_BYTES = 32", "MIN_SECRET_BYTES=32"))
    result = bin_ci("-q", "tests/test_config.py")
    assert result.returncode == 1
    assert re.findall(r"^==> (.*)$", result.stdout, re.MULTILINE)[-1] == "ruff format --check ."


def test_pre_commit_config_is_valid_and_runs_the_agreed_hooks(bake_once, run_in_project):
    project = bake_once()
    result = run_in_project(project, "pre-commit", "validate-config", PRE_COMMIT)
    assert result.returncode == 0, result.stdout + result.stderr
    repos = load(project, PRE_COMMIT)["repos"]
    hook_ids = {hook["id"] for repo in repos for hook in repo["hooks"]}
    assert hook_ids == {
        "ruff-check",
        "ruff-format",
        "end-of-file-fixer",
        "trailing-whitespace",
        "mypy",
    }


@pytest.mark.parametrize(
    "answers",
    [{}, {"database": "postgresql", "open_source_license": "Apache-2.0", "use_nginx": False}],
)
def test_baked_files_pass_the_whitespace_hooks(bake_copy, tmp_path, answers):
    """The pre-commit-hooks package at the pinned version, run on every committed text file."""
    clone = checkout(bake_copy(**answers), tmp_path)
    (hooks_repo,) = [
        r for r in load(clone, PRE_COMMIT)["repos"] if r["repo"].endswith("/pre-commit-hooks")
    ]
    assert hooks_repo["rev"] == f"v{version('pre-commit-hooks')}"
    files = git(clone, "ls-files").stdout.split()
    text_files = [name for name in files if b"\0" not in (clone / name).read_bytes()]
    hooks = {hook["id"]: hook for hook in hooks_repo["hooks"]}
    for module, hook in [
        ("end_of_file_fixer", "end-of-file-fixer"),
        ("trailing_whitespace_fixer", "trailing-whitespace"),
    ]:
        exclude = hooks[hook].get("exclude", "^$")  # as pre-commit does: files it leaves alone
        checked = [name for name in text_files if not re.search(exclude, name)]
        result = subprocess.run(
            [sys.executable, "-m", f"pre_commit_hooks.{module}", *checked],
            cwd=clone,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, f"{module} changed files:\n{result.stdout}"


# The option sets that change the package's files: the API (its package, the factory) and the
# database (config.py), as the locks are made. The defaults' in the fast tier.
MYPY_BAKES = [
    pytest.param({}, id="defaults"),
    pytest.param({"use_api": False}, id="no-api", marks=pytest.mark.slow),
    pytest.param({"database": "postgresql"}, id="postgresql", marks=pytest.mark.slow),
    pytest.param(
        {"database": "postgresql", "use_api": False},
        id="postgresql-no-api",
        marks=pytest.mark.slow,
    ),
]


@pytest.mark.parametrize("answers", MYPY_BAKES)
def test_mypy_strict_passes_on_the_package(bake_once, baked_python, run_in_project, answers):
    """`mypy` as CI and pre-commit run it: strict, on the package, with the locked stubs.

    Its cache lives beside the shared venv (made anew with it): the libraries' analysis, most
    of a cold run's 30 s, is done once for every bake and later run."""
    project = bake_once(**answers)
    assert load_toml(project)["tool"]["mypy"]["strict"] is True
    cache = baked_python.parent.parent / "mypy-cache"
    result = run_in_project(project, "mypy", "--cache-dir", str(cache))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("Success: no issues found")


@pytest.mark.slow  # mypy twice, through pre-commit: 10-30 s
def test_pre_commit_runs_mypy_on_the_pip_path_without_uv(bake, baked_python, tmp_path):
    """The README's pip path: `git init`, an activated venv, no uv anywhere on PATH, then
    `pre-commit run --all-files`. The hooks of the GitHub repositories cannot be fetched here
    (no network but the package registries), so the shipped file's local hooks run, as they
    are; a type error then fails the commit."""
    project = bake()
    git(project, "init", "-q")
    git(project, "add", "-A")
    config = load(project, PRE_COMMIT)
    local = tmp_path / "local-hooks.yaml"
    local.write_text(
        yaml.safe_dump({"repos": [r for r in config["repos"] if r["repo"] == "local"]})
    )
    venv_bin = baked_python.parent
    path = [venv_bin, *(p for p in os.environ["PATH"].split(os.pathsep) if p)]
    path = [str(p) for p in path if not (Path(p) / "uv").exists()]
    env = activated_env(
        baked_python,
        project,
        PRE_COMMIT_HOME=str(tmp_path / "pre-commit"),
        MYPY_CACHE_DIR=str(baked_python.parent.parent / "mypy-cache"),  # shared, as below
    )
    env["PATH"] = os.pathsep.join(path)
    assert shutil.which("uv", path=env["PATH"]) is None
    command = [str(venv_bin / "pre-commit"), "run", "--all-files", "--config", str(local)]

    def pre_commit():
        return subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)

    result = pre_commit()
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"mypy \(strict\)\.+Passed", result.stdout), result.stdout
    factory = project / SLUG / "__init__.py"
    factory.write_text(factory.read_text() + '\n\ndef broken() -> int:\n    return "text"\n')
    result = pre_commit()
    assert result.returncode == 1 and "Incompatible return value type" in result.stdout


def load_toml(project):
    return tomllib.loads((project / "pyproject.toml").read_text())
