"""The uv.lock every bake ships: made for its options, named after the project, and current.

The template carries one ready-made lock per variant of the options that change dependencies
(scripts/relock.py makes them), so baking needs no network; the post-gen hook puts the fitting
one in place under the project's own name and version.
"""

import importlib.util
import subprocess
import tomllib

import pytest

from conftest import TEMPLATE, default_answers, uv_env
from test_bake import COMBINATIONS, bake_id

LOCKS = TEMPLATE / "{{cookiecutter.project_slug}}" / "locks"


def load_relock():
    spec = importlib.util.spec_from_file_location("relock", TEMPLATE / "scripts" / "relock.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def lock_for(answers):
    """The template's lock for these answers: its file name lists the options it was made for."""

    def fits(path):
        pairs = (pair.split("=", 1) for pair in path.stem.split(","))
        return all(str(answers[option]).lower() == value for option, value in pairs)

    (path,) = [path for path in LOCKS.glob("*.lock") if fits(path)]
    return path


def project_entry(lock_text):
    """The lock's entry for the project itself (the one package installed from `.`)."""
    packages = tomllib.loads(lock_text)["package"]
    (entry,) = [package for package in packages if package["source"] == {"editable": "."}]
    return entry


def pins(constraints_text):
    """The `name==version` lines of pip constraints, markers left out, names as uv writes them."""
    found = set()
    for line in constraints_text.splitlines():
        requirement = line.split(";")[0].strip()
        if requirement and not requirement.startswith("#"):
            name, version = requirement.split("==")
            found.add((name, version))
    return found


def locked_versions(lock_text):
    """Every package uv.lock pins, but the project itself."""
    packages = tomllib.loads(lock_text)["package"]
    return {(p["name"], p["version"]) for p in packages if p["source"] != {"editable": "."}}


def test_the_template_has_one_lock_for_each_variant_the_script_makes():
    relock = load_relock()
    expected = {relock.lock_name(answers) for answers in relock.variants()}
    constraints = {relock.constraints_name(answers) for answers in relock.variants()}
    assert {path.name for path in LOCKS.glob("*")} == expected | constraints
    for name in expected:
        entry = project_entry((LOCKS / name).read_text())
        assert (entry["name"], entry["version"]) == ("my-flask-app", "0.1.0")


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_the_baked_lock_is_the_variants_under_the_projects_name(bake, database):
    project = bake(project_slug="tea__shop", version="2.0rc1", database=database)
    assert not (project / "locks").exists()
    baked = (project / "uv.lock").read_text()
    entry = project_entry(baked)
    assert (entry["name"], entry["version"]) == ("tea-shop", "2.0rc1")  # as uv writes them
    locked = {package["name"] for package in tomllib.loads(baked)["package"]}
    assert ("psycopg" in locked) == (database == "postgresql")
    assert "redis" in locked  # the rate-limit storage of production
    template = lock_for({**default_answers(), "database": database}).read_text()
    renamed = 'name = "tea-shop"\nversion = "2.0rc1"\n'
    assert baked.replace(renamed, 'name = "my-flask-app"\nversion = "0.1.0"\n') == template


def test_each_locks_pip_constraints_pin_the_same_versions():
    """pip installs what uv does: the same packages at the same versions as the lock beside."""
    relock = load_relock()
    for answers in relock.variants():
        lock = (LOCKS / relock.lock_name(answers)).read_text()
        constraints = (LOCKS / relock.constraints_name(answers)).read_text()
        assert pins(constraints) == locked_versions(lock), relock.constraints_name(answers)
        assert any(name == "sentry-sdk" for name, _ in pins(constraints))


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
@pytest.mark.parametrize("use_api", [True, False])
def test_the_baked_constraints_are_what_uv_exports_from_the_baked_lock(bake, database, use_api):
    """Byte for byte what the command in constraints.txt's header makes from uv.lock (offline:
    --frozen), under another project name too: the file never names the project."""
    project = bake(project_slug="tea__shop", database=database, use_api=use_api)
    shipped = (project / "constraints.txt").read_text()
    command = shipped.splitlines()[1].removeprefix("#").split()
    assert command[:2] == ["uv", "export"] and "--frozen" in command
    result = subprocess.run(
        command, cwd=project, env=uv_env(), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert (project / "constraints.txt").read_text() == shipped
    assert pins(shipped) == locked_versions((project / "uv.lock").read_text())


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_every_dependency_stops_below_an_untested_major(bake_once, database):
    """A plain `pip install .` cannot reach a major no test has run (a 0.x: a minor): each
    requirement has an upper bound, or an exact pin, no higher than the next one after the
    locked version."""
    from packaging.requirements import Requirement
    from packaging.version import Version

    project = bake_once(database=database, use_api=True)
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    requirements = pyproject["project"]["dependencies"] + pyproject["dependency-groups"]["dev"]
    locked = dict(locked_versions((project / "uv.lock").read_text()))
    for line in requirements:
        requirement = Requirement(line)
        version = Version(locked[requirement.name])
        release = version.release + (0,)
        # the next major, or the next minor of a 0.x
        untested = Version(f"{release[0] + 1}") if release[0] else Version(f"0.{release[1] + 1}")
        assert not requirement.specifier.contains(untested, prereleases=True), line
        assert requirement.specifier.contains(version), line


CHECKED = [
    *COMBINATIONS,
    {"python_version": "3.13"},
    {"python_version": "3.11"},
    {"project_slug": "tea__shop", "version": "2.0rc1", "open_source_license": "none"},
]


@pytest.mark.e2e  # uv may ask PyPI about packages its cache lacks
@pytest.mark.parametrize("answers", CHECKED, ids=bake_id)
def test_uv_lock_check_passes(bake_once, answers):
    """uv's own check that uv.lock matches pyproject.toml, for every option combination."""
    project = bake_once(**answers)
    result = subprocess.run(
        ["uv", "lock", "--check"],
        cwd=project,
        env=uv_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
