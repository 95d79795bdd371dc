"""The template's own CI workflow (.github/workflows/ci.yml) and the baked project's.

GitHub cannot be reached from here, so what can be proven is proven locally: both workflows
pass actionlint and zizmor (offline), the suite's parts add up to the whole suite, the
macOS/Windows job's steps pass on this machine, and no hook or baked module calls what only
POSIX has (test_bake.py runs the baked suites with POSIX-only modules unimportable).
"""

import ast
import os
import shlex
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from conftest import TEMPLATE, uv_env

WORKFLOW = TEMPLATE / ".github" / "workflows" / "ci.yml"
RELEASE_WORKFLOW = TEMPLATE / ".github" / "workflows" / "release.yml"
BAKED_WORKFLOW = ".github/workflows/ci.yml"
TOOLS = Path(sys.executable).parent  # actionlint and zizmor come with requirements-test.txt


def jobs():
    return yaml.safe_load(WORKFLOW.read_text())["jobs"]


def workflows(bake_once):
    """The template's workflow and the baked one of each database (its Jinja differs by it)."""
    baked = [bake_once(database=name) / BAKED_WORKFLOW for name in ("sqlite", "postgresql")]
    return [WORKFLOW, RELEASE_WORKFLOW, *baked]


def test_workflows_pass_actionlint(bake_once):
    # -shellcheck= and -pyflakes=: the same checks on every machine, whatever is on PATH.
    command = [TOOLS / "actionlint", "-shellcheck=", "-pyflakes=", *workflows(bake_once)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflows_pass_zizmor_offline(bake_once):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GH_", "GITHUB_"))}
    for workflow in workflows(bake_once):
        result = subprocess.run(
            [TOOLS / "zizmor", "--offline", "--no-progress", workflow],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert result.returncode == 0, f"{workflow}:\n{result.stdout}{result.stderr}"


def collected(*selection):
    """The test ids pytest collects for these arguments, as .ci/run would pass them."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", *selection],
        cwd=TEMPLATE,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode in (0, 5), result.stdout + result.stderr  # 5: none selected
    return [line for line in result.stdout.splitlines() if "::" in line]


@pytest.mark.slow  # collects the whole suite nine times (about 25 s on 2 cores)
def test_the_suite_parts_add_up_to_the_whole_suite():
    fast = shlex.split(jobs()["fast"]["steps"][-1]["run"])[2:]  # bash .ci/run ARGS
    parts = [
        shlex.split(part["pytest"]) for part in jobs()["suite"]["strategy"]["matrix"]["include"]
    ]
    with ThreadPoolExecutor(2) as pool:
        whole, *shares = pool.map(lambda args: collected(*args), [[], fast, *parts])
    every_share = [test for share in shares for test in share]
    assert all(shares), "a part selects no test"
    assert sorted(every_share) == sorted(whole)  # each test in exactly one part


def test_the_bake_job_runs_the_same_steps_on_every_system():
    job = jobs()["bake"]
    assert set(job["strategy"]["matrix"]["os"]) == {
        "ubuntu-latest",
        "macos-latest",
        "windows-latest",
    }
    assert job["defaults"]["run"]["shell"] == "bash"  # Git Bash on Windows: one set of commands
    assert not any("if" in step for step in job["steps"])


@pytest.mark.e2e  # uv fetches cookiecutter and the locked packages (PyPI or its cache)
@pytest.mark.slow  # the fresh-checkout test of test_tooling.py runs the baked steps already
def test_the_bake_job_steps_pass_here(tmp_path):
    """The macOS/Windows job's steps, run as they are written, in a copy of the template."""
    checkout = tmp_path / "template"
    checkout.mkdir()
    names = ["cookiecutter.json", "local_extensions.py", "requirements.txt", "hooks"]
    for name in [*names, "{{cookiecutter.project_slug}}"]:
        source = TEMPLATE / name
        if source.is_dir():
            shutil.copytree(source, checkout / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, checkout / name)
    for step in (s for s in jobs()["bake"]["steps"] if "run" in s):
        result = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            cwd=checkout / step.get("working-directory", "."),
            env=uv_env(),
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, f"{step['run']}\n{result.stdout}{result.stderr}"
    assert " passed" in result.stdout


# What only POSIX systems have: modules, os functions and signals (Windows has none of them).
POSIX_MODULES = {"fcntl", "grp", "pty", "pwd", "resource", "syslog", "termios", "tty"}
POSIX_NAMES = {
    "os": {"chown", "fchmod", "fchown", "fork", "getpgid", "geteuid", "getgid", "getuid",
           "killpg", "lchown", "mkfifo", "setsid", "sync", "uname", "WNOHANG"},
    "signal": {"SIGALRM", "SIGCHLD", "SIGHUP", "SIGKILL", "SIGQUIT", "SIGUSR1", "SIGUSR2",
               "alarm", "pause", "setitimer"},
}  # fmt: skip


def posix_only(path):
    """`module.name` of each POSIX-only import or use in a Python file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] in POSIX_MODULES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "") in POSIX_MODULES:
            found.append(node.module)
        elif isinstance(node, ast.ImportFrom) and node.module in POSIX_NAMES:
            found += [a.name for a in node.names if a.name in POSIX_NAMES[node.module]]
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            found += [f"{node.value.id}.{node.attr}"] * (
                node.attr in POSIX_NAMES.get(node.value.id, ())
            )
    return found


def test_hooks_and_baked_code_call_nothing_posix_only(bake_once):
    """What the Windows job runs: the hooks, and the baked package and tests (Gunicorn's
    settings file aside: Gunicorn itself runs on POSIX only)."""
    project = bake_once()
    files = [*(TEMPLATE / "hooks").glob("*.py"), *project.glob("my_flask_app/**/*.py")]
    files += project.glob("tests/**/*.py")
    assert len(files) > 40
    found = {str(path): posix_only(path) for path in files}
    assert {name: calls for name, calls in found.items() if calls} == {}


def test_the_posix_check_sees_what_it_looks_for(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import fcntl, os\nfrom signal import SIGKILL\nos.kill(1, 0)\nos.getuid()\n"
        "import signal\nsignal.SIGHUP\n"
    )
    assert sorted(posix_only(sample)) == ["SIGKILL", "fcntl", "os.getuid", "signal.SIGHUP"]
