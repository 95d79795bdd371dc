"""Every combination of options bakes a complete, clean project whose own tests pass."""

import fnmatch
import json
import tomllib
from pathlib import PurePosixPath

import pytest

from conftest import COMBINATIONS, TEMPLATE, assert_files_parse, the_defaults_fast

SLUG = "my_flask_app"
TEMPLATE_TREE = TEMPLATE / "{{cookiecutter.project_slug}}"

# Files that belong to one option and must be gone when it is off.
DOCKER_FILES = {
    "Dockerfile",
    ".dockerignore",
    "compose.yaml",
    "compose.prod.yaml",
    "docs/docker.md",
    "prometheus/prometheus.yml",
}
NGINX_FILES = {
    f"nginx/{SLUG}.conf",
    f"deploy/{SLUG}.service",
    f"deploy/{SLUG}-worker.service",
    "deploy/certificate.sh",
    "docs/systemd.md",
    "deploy/prometheus.yml",
    f"deploy/{SLUG}-backup.service",
    f"deploy/{SLUG}-backup.timer",
    "docs/certificates.md",
}
SWARM_FILE = "compose.swarm.yaml"  # Docker, nginx and PostgreSQL
SWARM_PAGE = "docs/swarm.md"
KUBERNETES_PAGE = "docs/kubernetes.md"
PG_BACKUP = "bin/pg-backup.sh"  # the Compose and Swarm backup service's: Docker and PostgreSQL
POSTGRESQL_FILES = {"docs/postgresql.md", f"{SLUG}/postgres.py"}
KUBERNETES_FOLDER = "k8s/"
KUBERNETES_ENV = "k8s/overlays/production/.env"  # written by the hook, like .env
API_FILES = {
    "migrations/versions/0003_create_api_token.py",
    "tests/test_api.py",
    "tests/test_api_admin.py",
    "tests/test_api_schema.py",
    "tests/test_api_docs.py",
    "docs/api.md",
}
API_PACKAGE = f"{SLUG}/api/"

# Kubernetes needs Docker and PostgreSQL, and its files do not depend on nginx: one bake.
KUBERNETES = [
    {"database": "postgresql", "use_docker": True, "use_nginx": True, "use_kubernetes": True}
]
LICENCES = [{"open_source_license": name} for name in ["BSD-3-Clause", "Apache-2.0", "none"]]
# The API touches only the app's code, its dependencies and migrations, whatever the deploy
# files: without it, once per database (each adds its own lines to pyproject.toml).
WITHOUT_API = [{"use_api": False}, {"database": "postgresql", "use_api": False}]
ALL_BAKES = COMBINATIONS + KUBERNETES + LICENCES + WITHOUT_API


def bake_id(answers):
    return "-".join(str(value) for value in answers.values())


def suite_key(answers):
    """The answers a baked project's own suite depends on: the database and the API change
    its code, tests, migrations, locks and .env; the deployment files and the licence do not
    (test_other_answers_change_nothing_a_baked_suite_reads holds them to that)."""
    return answers.get("database", "sqlite"), answers.get("use_api", True)


# The suite of the first bake of each key, and no other: the defaults' in the fast tier. Each
# in two halves (alternate test files), which the two xdist workers share.
FIRST_OF_KEY = {}
for bake_answers in ALL_BAKES:
    FIRST_OF_KEY.setdefault(suite_key(bake_answers), bake_answers)
SUITE_BAKES = list(FIRST_OF_KEY.values())
HALVES = [1, 2]
BAKED_SUITES = [
    pytest.param(
        answers,
        half,
        id=f"{bake_id(answers)}-half{half}",
        marks=[] if n == 0 else [pytest.mark.slow],
    )
    for n, answers in enumerate(SUITE_BAKES)
    for half in HALVES
]
OTHER_BAKES = [answers for answers in ALL_BAKES if answers not in SUITE_BAKES]


def files_in(folder):
    return {
        path.relative_to(folder).as_posix()
        for path in folder.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


def expected_files(answers):
    """The template's files under their baked names, less those of the options not chosen."""
    files = {
        name.replace("{{cookiecutter.project_slug}}", SLUG) for name in files_in(TEMPLATE_TREE)
    }
    files = {name for name in files if not name.startswith(("licenses/", "locks/"))}
    files |= {".env", "uv.lock", "constraints.txt"}
    if answers.get("open_source_license", "MIT") != "none":
        files.add("LICENSE")
    if not answers.get("use_docker", True):
        files -= DOCKER_FILES
    swarm = answers.get("use_docker", True) and answers.get("use_nginx", True)
    if not swarm or answers.get("database", "sqlite") != "postgresql":
        files -= {SWARM_FILE, SWARM_PAGE}
    if not answers.get("use_nginx", True):
        files -= NGINX_FILES
    if answers.get("use_kubernetes", False):
        files.add(KUBERNETES_ENV)
    else:
        files = {name for name in files if not name.startswith(KUBERNETES_FOLDER)}
        files.discard(KUBERNETES_PAGE)
    if answers.get("database", "sqlite") != "postgresql":
        files -= POSTGRESQL_FILES
    if answers.get("database", "sqlite") != "postgresql" or not answers.get("use_docker", True):
        files.discard(PG_BACKUP)
    if not answers.get("use_api", True):
        files = {name for name in files - API_FILES if not name.startswith(API_PACKAGE)}
    return files


@pytest.fixture(scope="module", params=ALL_BAKES, ids=bake_id)
def answers(request):
    return request.param


@pytest.fixture(scope="module")
def project(bake_once, answers):
    """One bake per combination, shared by the checks below (none of them changes it)."""
    return bake_once(**answers)


def test_option_files_exist_in_the_template():
    assert expected_files({}) >= DOCKER_FILES | NGINX_FILES | API_FILES
    assert any(name.startswith(API_PACKAGE) for name in expected_files({}))
    assert SWARM_FILE in expected_files({"database": "postgresql"})
    kubernetes = expected_files(KUBERNETES[0]) - expected_files({})
    overlay = "k8s/overlays/production/kustomization.yaml"
    assert {"k8s/base/kustomization.yaml", overlay, KUBERNETES_ENV} <= kubernetes


def test_files_copied_without_rendering_hold_no_template_syntax():
    """cookiecutter copies what `_copy_without_render` matches as it is (the bake skips Jinja
    for every file that has none to render); a file there that gains a tag must leave the list.
    Flask's own Jinja templates are copied on purpose."""
    patterns = json.loads((TEMPLATE / "cookiecutter.json").read_text())["_copy_without_render"]
    for name in files_in(TEMPLATE_TREE):
        parents = [name, *(parent.as_posix() for parent in PurePosixPath(name).parents)]
        if "/templates/" in f"/{name}" or not any(
            fnmatch.fnmatch(path, pattern) for path in parents for pattern in patterns
        ):
            continue
        text = (TEMPLATE_TREE / name).read_text()
        assert not any(tag in text for tag in ("{{", "{%", "{#")), name


def test_exactly_the_expected_files(project, answers):
    assert files_in(project) == expected_files(answers)


def test_no_template_markers_left(project):
    for name in files_in(project):
        text = (project / name).read_text()
        if "/templates/" in name or name.startswith(".github/workflows/"):
            continue  # Flask's Jinja templates and Actions expressions are meant to stay
        if name == "docs/frontend.md":
            continue  # the front-end guide's examples of Jinja templates
        assert "{{" not in text and "{%" not in text, name
        assert "cookiecutter" not in text, name


@pytest.mark.parametrize("answers", the_defaults_fast(ALL_BAKES, bake_id), indirect=True)
def test_files_parse(project):
    assert_files_parse(project)


def test_database_driver_only_with_postgresql(project, answers):
    dependencies = tomllib.loads((project / "pyproject.toml").read_text())["project"][
        "dependencies"
    ]
    has_driver = any(name.startswith("psycopg") for name in dependencies)
    assert has_driver == (answers.get("database") == "postgresql")


def test_api_dependencies_only_with_the_api(project, answers):
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    runtime = " ".join(pyproject["project"]["dependencies"])
    dev = " ".join(pyproject["dependency-groups"]["dev"])
    has_api = answers.get("use_api", True)
    assert ("flask-smorest" in runtime) == has_api
    assert ("flask-swagger-ui" in runtime) == has_api
    assert ("schemathesis" in dev) == has_api
    package_data = tomllib.loads((project / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert any("api/" in item for item in package_data["package-data"][SLUG]) == has_api


def test_licence(project, answers):
    licence = answers.get("open_source_license", "MIT")
    metadata = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    if licence == "none":
        assert not (project / "LICENSE").exists()
        assert "license" not in metadata
    else:
        assert metadata["license"] == licence
        assert "Your Name" in (project / "LICENSE").read_text() or licence == "Apache-2.0"


@pytest.mark.parametrize("answers", the_defaults_fast(ALL_BAKES, bake_id), indirect=True)
def test_ruff_is_clean(project, run_in_project):
    for command in (["check", "--no-cache", "."], ["format", "--check", "--no-cache", "."]):
        result = run_in_project(project, "ruff", *command)
        assert result.returncode == 0, result.stdout + result.stderr


# pytest, run with the standard library's POSIX-only modules made unimportable (Windows has none
# of them): a baked module or test that needs one fails here, not first on a Windows machine.
WITHOUT_POSIX_ONLY_MODULES = """
import sys
for name in ("fcntl", "grp", "pty", "pwd", "resource", "syslog", "termios", "tty"):
    sys.modules[name] = None
import pytest
sys.exit(pytest.main(["-p", "no:cacheprovider", *sys.argv[1:]]))
"""


@pytest.mark.parametrize("answers, half", BAKED_SUITES, indirect=["answers"])
def test_baked_tests_pass(answers, half, bake_copy, run_in_project):
    project = bake_copy(**answers)  # the suite writes (.hypothesis/): not in the shared bake
    package_files = files_of_package(project)
    test_files = sorted(path.name for path in (project / "tests").glob("test_*.py"))
    ours = [f"tests/{name}" for name in test_files[half - 1 :: len(HALVES)]]
    # As on the Windows runner of .github/workflows/ci.yml: POSIX-only modules cannot be imported.
    result = run_in_project(project, "python", "-c", WITHOUT_POSIX_ONLY_MODULES, "-q", *ours)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout
    # The suite writes nothing into the package (an image built afterwards would hold it).
    assert files_of_package(project) == package_files


@pytest.mark.parametrize("answers", OTHER_BAKES, ids=bake_id)
def test_other_answers_change_nothing_a_baked_suite_reads(bake_once, answers):
    """Its suite would pass or fail as the suite of the bake with the same key does: every file
    that differs between the two is one no baked module or test names, and pyproject.toml
    differs in the licence alone."""
    project = bake_once(**answers)
    same_key = bake_once(**next(a for a in SUITE_BAKES if suite_key(a) == suite_key(answers)))
    ours, theirs = files_in(project), files_in(same_key)
    differing = (ours ^ theirs) | {
        name
        for name in ours & theirs
        if (project / name).read_bytes() != (same_key / name).read_bytes()
    }
    assert differing, "a bake that changes no file needs no answer"
    for env in {name for name in differing & ours & theirs if name.endswith(".env")}:
        differing.remove(env)  # fresh secrets in each: the settings' names must be the same
        assert env_names(project / env) == env_names(same_key / env)
    if "pyproject.toml" in differing:
        differing.remove("pyproject.toml")
        assert metadata_but_licence(project) == metadata_but_licence(same_key)
    sources = suite_sources(same_key)
    named = {name for name in differing if quoted(name, sources)}
    assert not named, f"the baked suite names files that differ from its bake's: {named}"
    assert not {name for name in differing if name.startswith((f"{SLUG}/", "tests/"))}


def quoted(name, sources):
    """Whether a path, or its file's name, is a string of the sources: how a test opens it."""
    return any(
        f'"{text}"' in sources or f"'{text}'" in sources for text in (name, name.split("/")[-1])
    )


def env_names(path):
    lines = path.read_text().splitlines()
    return [line.split("=", 1)[0] for line in lines if line and not line.startswith("#")]


def metadata_but_licence(project):
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    pyproject["project"].pop("license", None)
    pyproject["project"].pop("license-files", None)
    return pyproject


def suite_sources(project):
    """The text of every module and test of a baked project."""
    paths = [*(project / SLUG).rglob("*.py"), *(project / "tests").rglob("*.py")]
    return "\n".join(path.read_text() for path in paths)


def files_of_package(project):
    """The package's files but Python's bytecode caches."""
    return {
        path.relative_to(project).as_posix()
        for path in (project / SLUG).rglob("*")
        if "__pycache__" not in path.parts
    }
