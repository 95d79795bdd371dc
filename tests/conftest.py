"""Shared fixtures: bake the template in process, and run baked projects in one shared venv."""

import fcntl
import hashlib
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import venv
from pathlib import Path

import pytest
import yaml
from cookiecutter.environment import StrictEnvironment

TEMPLATE = Path(__file__).resolve().parent.parent
TEMPLATE_PYPROJECT = TEMPLATE / "{{cookiecutter.project_slug}}" / "pyproject.toml"
VENV_ROOT = TEMPLATE / ".cache" / "baked-venv"
# pip's constraints of the bake with every dependency (PostgreSQL, the API): its lock's versions.
BAKED_CONSTRAINTS = (
    TEMPLATE / "{{cookiecutter.project_slug}}" / "locks" / "database=postgresql,use_api=true.txt"
)


@pytest.fixture(scope="session", autouse=True)
def baked_suites_temproot(tmp_path_factory):
    """The baked projects' pytest makes its temporary folders in this session's. In the
    machine's it would number its runs after this session and, keeping three, delete the
    folders of this suite's last runs (thousands of files) in the middle of this one."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTEST_DEBUG_TEMPROOT", str(tmp_path_factory.mktemp("baked-suites")))
        yield


@pytest.fixture(scope="session", autouse=True)
def compiled_templates():
    """Cookiecutter makes a new Jinja environment for each bake, which compiles the template's
    files, their names and the answers again (a third of a bake's time): each test process
    compiles each source once, for every bake of the session."""
    compile_source = StrictEnvironment.compile
    compiled = {}

    def compile_once(environment, source, *options):
        if not isinstance(source, str):  # a parsed template
            return compile_source(environment, source, *options)
        # The code depends on the source, the syntax (one lexer per setting) and the extensions.
        key = (source, options, environment.lexer, tuple(environment.extensions))
        if key not in compiled:
            compiled[key] = compile_source(environment, source, *options)
        return compiled[key]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(StrictEnvironment, "compile", compile_once)
        yield


# The options that change the deployment files, each with each; the defaults first.
COMBINATIONS = [
    {"database": database, "use_docker": docker, "use_nginx": nginx}
    for database, docker, nginx in itertools.product(
        ["sqlite", "postgresql"], [True, False], [True, False]
    )
]


def the_defaults_fast(option_sets, ids):
    """The option sets as a test's parameters, the first (the defaults') alone in the fast
    tier: the others are the slow tier's "for more option sets, what a fast test checks"."""
    return [
        pytest.param(answers, id=ids(answers), marks=[] if n == 0 else [pytest.mark.slow])
        for n, answers in enumerate(option_sets)
    ]


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


def default_answers():
    """The answers --no-input gives to the yes/no and choice questions."""
    context = json.loads((TEMPLATE / "cookiecutter.json").read_text())
    return {
        name: value[0] if isinstance(value, list) else value
        for name, value in context.items()
        if isinstance(value, bool | list) and not name.startswith("_")
    }


@pytest.fixture(scope="session")
def bake_once(tmp_path_factory):
    """Like `bake`, but one bake per set of answers (defaults included) for the whole session,
    shared by the xdist workers: the first to need a set bakes it, the others wait and read it.

    Only for tests that read a project and change nothing in it (else: `bake_copy`).
    """
    from cookiecutter.main import cookiecutter

    from cookiecutter_cli import sandbox

    # cookiecutter's config, replay and clone folders: this worker's own, not the user's.
    config = sandbox(tmp_path_factory.mktemp("bake-home"))["COOKIECUTTER_CONFIG"]
    basetemp = tmp_path_factory.getbasetemp()
    # Under xdist each worker's temporary root is a folder of the session's own.
    shared = basetemp.parent if os.environ.get("PYTEST_XDIST_WORKER") else basetemp
    root = shared / "shared-bakes"
    root.mkdir(exist_ok=True)
    defaults = default_answers()

    def bake(**answers):
        key = json.dumps(sorted({**defaults, **answers}.items()))
        folder = root / hashlib.sha256(key.encode()).hexdigest()[:16]
        with open(f"{folder}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (folder / "ready").exists():
                shutil.rmtree(folder, ignore_errors=True)  # a bake that failed half-way
                project = cookiecutter(
                    str(TEMPLATE),
                    no_input=True,
                    extra_context=answers,
                    output_dir=str(folder / "out"),
                    config_file=config,
                )
                (folder / "ready").write_text(project)
        return Path((folder / "ready").read_text())

    return bake


@pytest.fixture
def bake_copy(bake_once, tmp_path):
    """Like `bake_once`, but a copy of the shared bake that the test may change (git init...).

    Files, modes and times as baked (.env keeps its 0600): a bake's work for a copy's.
    """
    count = 0

    def bake(**answers):
        nonlocal count
        source = bake_once(**answers)
        count += 1
        target = tmp_path / f"copy{count}" / source.name
        shutil.copytree(source, target, symlinks=True)
        return target

    return bake


@pytest.fixture(scope="session")
def replayed_context(tmp_path_factory):
    """The replay file a real `cookiecutter --no-input` bake saves, as text: one bake a session."""
    from cookiecutter_cli import cookiecutter_cli, replay_file

    folder = tmp_path_factory.mktemp("replay")
    first = cookiecutter_cli(folder / "home", "--no-input", "-o", folder / "first")
    assert first.returncode == 0, first.stderr
    return replay_file(folder / "home").read_text()


PARSERS = {
    ".py": lambda text: compile(text, "<baked file>", "exec"),
    ".toml": tomllib.loads,
    ".yml": lambda text: list(yaml.safe_load_all(text)),
    ".yaml": lambda text: list(yaml.safe_load_all(text)),
    ".json": json.loads,
}


def assert_files_parse(project):
    """Every Python, TOML, YAML and JSON file of the project is valid in its language."""
    for path in project.rglob("*"):
        parse = PARSERS.get(path.suffix)
        if parse and path.is_file():
            try:
                parse(path.read_text())
            except Exception as error:
                name = path.relative_to(project)
                raise AssertionError(f"{name} does not parse: {error}") from error


def baked_requirements():
    """Every runtime and dev dependency a bake can declare: read from a PostgreSQL bake,
    which adds the database driver to what a SQLite bake needs."""
    from cookiecutter.main import cookiecutter

    with tempfile.TemporaryDirectory(prefix="venv-bake-") as output:
        project = cookiecutter(
            str(TEMPLATE),
            no_input=True,
            output_dir=output,
            extra_context={"database": "postgresql"},
        )
        data = tomllib.loads((Path(project) / "pyproject.toml").read_text())
    return [*data["project"]["dependencies"], *data["dependency-groups"]["dev"]]


def ensure_venv():
    """One venv holding every dependency of a baked project, made once for all workers.

    It holds the lock's versions (BAKED_CONSTRAINTS), as a bake's pip path does. Its folder is
    named after the hash of the template's pyproject.toml and those constraints, so a change to
    the baked dependencies or their versions makes a new one; a lock keeps xdist workers from
    building it twice. Returns its interpreter.
    """
    digest = hashlib.sha256(TEMPLATE_PYPROJECT.read_bytes() + BAKED_CONSTRAINTS.read_bytes())
    digest = digest.hexdigest()[:12]
    path = VENV_ROOT / digest
    python = path / "bin" / "python"
    VENV_ROOT.mkdir(parents=True, exist_ok=True)
    with open(VENV_ROOT / f"{digest}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (path / "ready").exists():
            venv.create(path, with_pip=True, clear=True)
            pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
            constraints = ["-c", str(BAKED_CONSTRAINTS)]  # the lock's versions, as a bake's pip
            subprocess.run([*pip, *constraints, *baked_requirements()], check=True)
            (path / "ready").touch()
    return python


@pytest.fixture(scope="session")
def baked_python():
    """The interpreter of the shared venv (the baked package itself is not installed)."""
    return ensure_venv()


def clean_env(**extra):
    """The environment for a baked project's processes, without this session's Flask settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "APP_"))}
    # Bytecode caches are written (into the bake and the shared venv, never the template): where
    # the machine sets PYTHONDONTWRITEBYTECODE, every baked pytest would otherwise compile again
    # the ~300 modules of its plugins whose asserts it rewrites (a second of each run).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("SECRET_KEY", None)
    env.pop("DATABASE_URL", None)
    env.update(extra)
    return env


def uv_env(**extra):
    """The environment for uv in a baked project: the PyPI package's uv first on PATH, this
    interpreter (any 3.11+ runs a bake) and never a downloaded Python, which the bake's
    .python-version could otherwise ask for and which cannot be had offline."""
    from uv import find_uv_bin

    env = clean_env(
        PATH=f"{Path(find_uv_bin()).parent}{os.pathsep}{os.environ['PATH']}",
        UV_PYTHON=sys.executable,
        UV_PYTHON_DOWNLOADS="never",
        **extra,
    )
    env.pop("VIRTUAL_ENV", None)  # uv would warn that it is not the project's .venv
    return env


def activated_env(baked_python, project, **extra):
    """A baked project's environment as with the shared venv activated and the project installed.

    PYTHONPATH stands in for `pip install -e .`, which puts the project folder on sys.path.
    """
    venv_bin = baked_python.parent
    return clean_env(
        PATH=f"{venv_bin}{os.pathsep}{os.environ['PATH']}",
        VIRTUAL_ENV=str(venv_bin.parent),
        PYTHONPATH=str(project),
        **extra,
    )


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


def git(cwd, *args, check=True):
    """Run git with a throwaway identity and none of the user's or the system's git config."""
    identity = ["-c", "user.name=Test", "-c", "user.email=test@example.com"]
    return subprocess.run(
        ["git", *identity, "-c", "init.defaultBranch=main", *args],
        cwd=cwd,
        env={**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"},
        check=check,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="session")
def docker():
    """The private Docker daemon with the stand-in base images, one for the whole session
    (test_docker.py and test_swarm.py share it, in one xdist group); once it has stopped,
    nothing of it may be left on this machine."""
    from servers import docker as containers

    with containers.docker_daemon() as daemon:
        containers.stand_in_images(daemon)
        yield daemon
    assert daemon.leftovers() == []


# cookiecutter (2.7.1, hooks.run_script_with_context) renders each hook into a temporary
# file that it never deletes: two files in the temporary folder for every bake, hundreds a
# run. pytest_sessionfinish removes this session's.
HOOK_FIRST_LINES = {
    (TEMPLATE / "hooks" / name).read_text().splitlines()[0]
    for name in ("pre_gen_project.py", "post_gen_project.py")
}
SESSION_STARTED = time.time()


def pytest_sessionfinish(session):
    if hasattr(session.config, "workerinput"):  # an xdist worker: the controller does it
        return
    for path in Path(tempfile.gettempdir()).glob("tmp*.py"):
        try:
            # Only this session's, and none of the last minute's: another suite running at
            # the same time may be running that hook now.
            if not SESSION_STARTED <= path.stat().st_mtime < time.time() - 60:
                continue
            with path.open(encoding="utf-8", errors="replace") as file:
                first_line = file.readline().rstrip("\n")
            if first_line in HOOK_FIRST_LINES:
                path.unlink()
        except OSError:
            continue  # gone already, or not ours to read


def pytest_collection_modifyitems(items):
    """Every test that starts the private Docker daemon is marked `docker`, so that
    `-m "not docker"` leaves them all out (on a machine without Docker, or without root).

    The baked projects' suites, the fast tier's longest tests, go first: xdist hands the first
    two to the two workers, where from the middle of the queue both halves of a suite could
    land on one worker, one after the other (15 s more of the fast tier)."""
    for item in items:
        if "docker" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.docker)
    items.sort(key=lambda item: getattr(item, "originalname", "") != "test_baked_tests_pass")


def pytest_report_header():
    return f"template: {TEMPLATE} (python {sys.version.split()[0]})"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Under CI no test may skip: .ci/run installs every program the tests need."""
    report = yield
    if os.environ.get("CI") and report.skipped:
        report.outcome = "failed"
        report.longrepr = f"skipped under CI, where it must run: {report.longrepr}"
    return report
