"""Bad package names and option values are refused before a file is written, with a clear line.

Everything runs the real `cookiecutter` command, except the fast tier's check of each bad slug
(cookiecutter's API with the real hook; the command checks each too, in the slow tier). A
pre-gen hook refusal prints one `error:` line on stderr (cookiecutter itself logs its own
traceback on stdout). Some values never reach the hook because cookiecutter stops first;
those cases say what the user sees instead.
"""

import json
import keyword
import os
import shlex
import subprocess
import sys
import tomllib
import types
import venv

import jinja2
import pytest
from cookiecutter.exceptions import FailedHookException
from cookiecutter.main import cookiecutter

from conftest import TEMPLATE, clean_env, default_answers
from cookiecutter_cli import cookiecutter_cli, leftovers, replay_file, sandbox

BAD_SLUGS = {
    "keyword": ("class", "is a Python keyword"),
    "soft-keyword": ("match", "is a Python keyword"),
    "leading-digit": ("1app", "is not a lower-case Python identifier"),
    "hyphen": ("my-app", "is not a lower-case Python identifier"),
    "upper-case": ("MyApp", "is not a lower-case Python identifier"),
    "space": ("my app", "is not a lower-case Python identifier"),
    "non-ascii": ("café", "is not a lower-case Python identifier"),
    "too-long": ("a" * 100, "is 100 characters long; keep it to 40"),
    "parent-folder": ("../evil", "is not a lower-case Python identifier"),
    "stdlib": ("json", "would shadow the standard library module 'json'"),
    "stdlib-email": ("email", "would shadow the standard library module 'email'"),
    "dependency": ("flask", "would shadow a package the project uses"),
    "dependency-sqlalchemy": ("sqlalchemy", "would shadow a package the project uses"),
    "dependency-redis": ("redis", "would shadow a package the project uses"),
    "project-folder": ("tests", "is a name the project's own files already use"),
    "git-ignored": ("build", "is a name the project's own files already use"),
    "docker-ignored": ("htmlcov", "is a name the project's own files already use"),
    "pytest-conftest": ("conftest", "is a name the project's own files already use"),
    "leading-underscore": ("_app", "must start and end with a letter or a digit"),
    "trailing-underscore": ("app_", "must start and end with a letter or a digit"),
    "indirect-dependency": ("blinker", "would shadow a package the project uses"),
    "alembic-template-engine": ("mako", "would shadow a package the project uses"),
    "pip-itself": ("packaging", "would shadow a package the project uses"),
    "distribution-name": ("pyyaml", "would shadow a package the project uses"),
    "stdlib-of-python-3-11": ("cgi", "would shadow the standard library module 'cgi'"),
}


def one_error_line(stderr, fragment):
    """The hook's one error line, on stderr, says what is wrong."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ") and fragment in lines[0], lines[0]


def refused_by_hook(result, fragment):
    assert result.returncode == 1, result.stdout + result.stderr
    one_error_line(result.stderr, fragment)


@pytest.mark.parametrize("slug, fragment", BAD_SLUGS.values(), ids=BAD_SLUGS.keys())
def test_bad_slug_is_refused_by_the_hook_and_nothing_is_written(tmp_path, capfd, slug, fragment):
    # cookiecutter's own API, which its command calls, running the real pre-gen hook: a third
    # of the command's time. The command itself refuses slugs in the tests below, and every
    # one of these in the slow test that follows.
    out = tmp_path / "out"
    out.mkdir()
    config = sandbox(tmp_path / "home")["COOKIECUTTER_CONFIG"]
    capfd.readouterr()
    with pytest.raises(FailedHookException):
        cookiecutter(
            str(TEMPLATE),
            no_input=True,
            output_dir=str(out),
            config_file=config,
            extra_context={"project_slug": slug},
        )
    one_error_line(capfd.readouterr().err, fragment)
    assert leftovers(out) == []
    assert sorted(path.name for path in tmp_path.iterdir()) == ["home", "out"]


# Slow tier: the command re-checks each slug; fast: test_bad_slug_is_refused_by_the_hook_...
@pytest.mark.slow
@pytest.mark.parametrize("slug, fragment", BAD_SLUGS.values(), ids=BAD_SLUGS.keys())
def test_bad_slug_is_refused_and_nothing_is_written(tmp_path, slug, fragment):
    out = tmp_path / "out"
    out.mkdir()
    result = cookiecutter_cli(tmp_path / "home", "--no-input", "-o", out, project_slug=slug)
    refused_by_hook(result, fragment)
    assert leftovers(out) == []
    assert sorted(path.name for path in tmp_path.iterdir()) == ["home", "out"]


def test_a_refused_bake_says_where_the_answers_are_and_how_to_bake_them_again(tmp_path):
    # cookiecutter saves the answers before the hook runs: the line names that file and the
    # command that bakes from it once the answer is corrected, so nothing is typed twice.
    home, out = tmp_path / "home", tmp_path / "out"
    out.mkdir()
    result = cookiecutter_cli(home, "--no-input", "-o", out, project_slug="flask")
    refused_by_hook(result, f"your answers are saved in {replay_file(home)}: correct this one")
    command = shlex.split(result.stderr.split("then run: ", 1)[1].strip().removesuffix(")"))
    assert command == ["cookiecutter", "--replay-file", str(replay_file(home)), str(TEMPLATE)]

    saved = json.loads(replay_file(home).read_text())
    saved["cookiecutter"]["project_slug"] = "shop"  # what the user corrects in the file
    replay_file(home).write_text(json.dumps(saved))
    env = {**os.environ, **sandbox(home)}
    again = subprocess.run(
        [sys.executable, "-m", *command], cwd=out, env=env, capture_output=True, text=True
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert (out / "shop" / "shop" / "__init__.py").is_file()


def test_nested_slug_is_refused_but_cookiecutter_leaves_its_parent_folder(tmp_path):
    # cookiecutter makes `out/a/b` with all parents before the hook runs, then removes only
    # `b`: the empty folder `a` stays. Nothing of the project is written.
    out = tmp_path / "out"
    out.mkdir()
    result = cookiecutter_cli(tmp_path / "home", "--no-input", "-o", out, project_slug="a/b")
    refused_by_hook(result, "is not a lower-case Python identifier")
    assert leftovers(out) == ["a"]


def test_absolute_path_slug_is_refused_and_nothing_is_written(tmp_path):
    target = tmp_path / "elsewhere"
    result = cookiecutter_cli(
        tmp_path / "home", "--no-input", "-o", tmp_path / "out", project_slug=target
    )
    refused_by_hook(result, "is not a lower-case Python identifier")
    assert not target.exists()


def test_empty_slug_is_stopped_by_cookiecutter_with_a_misleading_message(tmp_path):
    # An empty name makes the project folder the output folder itself, which exists, so
    # cookiecutter stops before the hook. A user meets this by typing only spaces at the
    # prompt, or with a project name that slugifies to nothing ("!!!").
    out = tmp_path / "out"
    out.mkdir()
    result = cookiecutter_cli(tmp_path / "home", "--no-input", "-o", out, project_name="!!!")
    assert result.returncode == 1
    assert f'Error: "{out}" directory already exists' in result.stdout
    assert leftovers(out) == []


def test_empty_slug_in_a_new_output_folder_reaches_the_hook(tmp_path):
    out = tmp_path / "new"
    result = cookiecutter_cli(tmp_path / "home", "--no-input", "-o", out, project_slug="")
    refused_by_hook(result, "project_slug '' is not a lower-case Python identifier")
    assert not out.exists()


def test_slug_longer_than_a_file_name_stops_cookiecutter_before_the_hook(tmp_path):
    # 300 characters exceed the 255 a file name may have: cookiecutter fails making the
    # folder, with a traceback ending in the OS error. The hook's limit (40) covers 41-255.
    out = tmp_path / "out"
    out.mkdir()
    result = cookiecutter_cli(tmp_path / "home", "--no-input", "-o", out, project_slug="a" * 300)
    assert result.returncode == 1
    assert "File name too long" in result.stderr.strip().splitlines()[-1]
    assert leftovers(out) == []


INVALID_OPTIONS = {
    "use_docker": ("maybe", "maybe provided for variable use_docker could not be converted"),
    "use_nginx": ("sometimes", "sometimes provided for variable use_nginx could not be"),
    "database": ("mysql", "mysql provided for choice variable database, but the choices"),
    "python_version": ("3.9", "3.9 provided for choice variable python_version, but the"),
    "open_source_license": ("GPL", "GPL provided for choice variable open_source_license"),
}


@pytest.mark.parametrize("name, value, message", [(k, *v) for k, v in INVALID_OPTIONS.items()])
def test_invalid_option_on_the_command_line_is_refused_by_cookiecutter(
    tmp_path, name, value, message
):
    # cookiecutter checks choices and booleans from the command line itself, before any
    # hook can: the user gets a traceback whose last line names the value and the variable.
    out = tmp_path / "out"
    out.mkdir()
    result = cookiecutter_cli(tmp_path / "home", "--no-input", "-o", out, **{name: value})
    assert result.returncode == 1
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith(f"ValueError: {message}")
    assert leftovers(out) == []
    assert not replay_file(tmp_path / "home").exists()


def test_yes_no_words_on_the_command_line_turn_options_off(tmp_path):
    out = tmp_path / "out"
    result = cookiecutter_cli(
        tmp_path / "home", "--no-input", "-o", out, use_docker="no", use_nginx="off"
    )
    assert result.returncode == 0, result.stderr
    project = out / "my_flask_app"
    assert not (project / "Dockerfile").exists()
    assert not (project / "nginx").exists()


REPLAYED_OPTIONS = {
    "use_docker": ("maybe", "error: use_docker must be yes or no (got 'maybe')"),
    "use_api": ("later", "error: use_api must be yes or no (got 'later')"),
    "database": ("mysql", "error: database must be one of sqlite, postgresql (got 'mysql')"),
    "python_version": ("3.9", "error: python_version must be one of 3.11, 3.12, 3.13"),
}


@pytest.mark.parametrize("name, value, line", [(k, *v) for k, v in REPLAYED_OPTIONS.items()])
def test_invalid_option_in_a_replay_file_is_refused_by_the_hook(
    tmp_path, replayed_context, name, value, line
):
    # A replay file (also what automation writes) bypasses cookiecutter's own checks, so
    # here the hook decides.
    home = tmp_path / "home"
    context = json.loads(replayed_context)
    context["cookiecutter"][name] = value
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(context))
    out = tmp_path / "out"
    out.mkdir()
    result = cookiecutter_cli(home, "--replay-file", edited, "-o", out)
    refused_by_hook(result, line.removeprefix("error: "))
    assert leftovers(out) == []


def load_hook():
    """The pre-gen hook as a module, rendered with no answers (its checks are functions)."""
    source = (TEMPLATE / "hooks" / "pre_gen_project.py").read_text()
    hook = types.ModuleType("pre_gen_project")
    code = jinja2.Template(source).render(cookiecutter={})
    exec(compile(code, "pre_gen_project.py", "exec"), hook.__dict__)
    return hook


# Every import name and distribution name in an environment, as a bake's pip installs them.
LIST_NAMES = """
import importlib.metadata as metadata, json, re
names = set(metadata.packages_distributions())
names |= {re.sub(r"[-_.]+", "_", d.metadata["Name"]).lower() for d in metadata.distributions()}
print(json.dumps(sorted(names)))
"""


def importable(name):
    """Names a slug could take at all: lower-case identifiers (the hook refuses the rest)."""
    return name.isidentifier() and name == name.lower() and not keyword.iskeyword(name)


def test_hook_refuses_every_name_an_installed_bake_provides(baked_python):
    # The shared venv holds everything a PostgreSQL bake installs, dev tools included, so
    # when a dependency is added or brings new ones, this lists what the hook must refuse.
    listed = subprocess.run(
        [str(baked_python), "-c", LIST_NAMES], capture_output=True, text=True, check=True
    )
    names = [name for name in json.loads(listed.stdout) if importable(name)]
    assert "flask" in names and "blinker" in names and "psycopg" in names
    hook = load_hook()
    missing = sorted(name for name in names if hook.check_slug(name) is None)
    assert not missing, (
        f"add to DEPENDENCY_NAMES in hooks/pre_gen_project.py: {', '.join(map(repr, missing))}"
    )


def ignore_patterns(project):
    """The patterns of the project's .gitignore and .dockerignore, as names at the top."""
    for name in (".gitignore", ".dockerignore"):
        if (project / name).exists():
            for line in (project / name).read_text().splitlines():
                pattern = line.strip().removeprefix("**/").strip("/")
                if pattern and not pattern.startswith(("#", "!")):
                    yield pattern


def test_hook_refuses_every_name_the_project_uses_or_ignores(bake_once):
    # Every option on: the most files a bake has. A package named like a folder next to it
    # merges with that folder; one an ignore file matches is left out of git or the image.
    everything = {name: True for name, value in default_answers().items() if value is False}
    project = bake_once(database="postgresql", **everything)
    used = {path.stem if path.suffix == ".py" else path.name for path in project.iterdir()}
    names = {name for name in used - {project.name} if importable(name)}
    # A wildcard pattern names the identifiers it matches by its simplest instance.
    for pattern in ignore_patterns(project):
        example = pattern.replace("*", "x").replace("?", "x")
        if importable(example):
            names.add(example)
    assert {"migrations", "tests", "build", "dist", "htmlcov"} <= names
    hook = load_hook()
    missing = sorted(name for name in names if hook.check_slug(name) is None)
    assert not missing, (
        f"add to PROJECT_NAMES in hooks/pre_gen_project.py: {', '.join(map(repr, missing))}"
    )


@pytest.mark.parametrize(
    "name, slug",
    [("Bob's Shop", "bobs_shop"), ("Bob\u2019s Shop", "bobs_shop"), ("Rock & Roll", "rock_roll")],
)
def test_apostrophes_drop_out_of_the_default_slug(tmp_path, name, slug):
    # Through the command, as a user names the project (a bake the API would render alike).
    out = tmp_path / "out"
    result = cookiecutter_cli(tmp_path / "home", "--no-input", "-o", out, project_name=name)
    assert result.returncode == 0, result.stderr
    assert [path.name for path in out.iterdir()] == [slug]


# What setuptools (84) does with pyproject.toml's author email: a pattern, then the standard
# library's RFC 5322 parser. All but the last three refused ones were tried with a real
# `pip install -e .` (2026-11-25); the hook also refuses control characters, as in any answer.
ACCEPTED_EMAILS = [
    "you@example.com", "a+b@example.com", "o'brien@example.com", '"a b"@example.com',
    '"a\\"b"@example.com', "a@[127.0.0.1]", "a@m\u00fcnchen.de", "x@1.2", "A@EXAMPLE.COM",
]  # fmt: skip
REFUSED_EMAILS = [
    "a..b@example.com", ".a@example.com", "a.@example.com", "a b@example.com", "a@b",
    "a@localhost", "a@example..com", "a@.example.com", "a@example.com.", "a,b@example.com",
    "a<b@example.com", "\u00fc@example.com", '"a@b"@example.com', "a@@example.com", "@x.com",
    "a@example.com\n",
]  # fmt: skip


def test_email_is_checked_as_setuptools_checks_it():
    hook = load_hook()
    assert [email for email in ACCEPTED_EMAILS if hook.check_email(email)] == []
    assert [email for email in REFUSED_EMAILS if not hook.check_email(email)] == []


def test_refused_email_stops_the_bake_with_one_line(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    result = cookiecutter_cli(tmp_path / "home", "--no-input", "-o", out, email="a..b@example.com")
    refused_by_hook(result, "email 'a..b@example.com' is not an address like you@example.com")
    assert leftovers(out) == []


@pytest.mark.e2e  # pip fetches setuptools from PyPI once, as a user's pip does
def test_pip_installs_a_bake_with_a_borderline_email_and_refuses_what_the_hook_refuses(
    bake, tmp_path
):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    pip = [str(env_dir / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    backend = tomllib.loads((bake() / "pyproject.toml").read_text())["build-system"]["requires"]
    subprocess.run([*pip, "install", "-q", "-U", *backend], env=clean_env(), check=True)

    def install(project):
        # The build backend the baked pyproject.toml asks for, installed once above.
        command = [*pip, "install", "-q", "--no-deps", "--no-build-isolation", "-e", "."]
        env = clean_env()
        return subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)

    for email in ['"a b"@example.com', "a@[127.0.0.1]"]:
        result = install(bake(email=email, project_slug="borderline"))
        assert result.returncode == 0, f"{email}: {result.stderr}"
    # The hook refuses a..b, so put it into a baked pyproject.toml by hand: setuptools fails.
    project = bake(project_slug="refused")
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace("you@example.com", "a..b@example.com"))
    result = install(project)
    assert result.returncode != 0
    assert "local-part is not dot-atom" in result.stderr


KUBERNETES_REFUSALS = {
    "without-docker": (
        {"use_docker": "no", "database": "postgresql"},
        "use_kubernetes needs use_docker: the cluster runs the image the Dockerfile builds",
    ),
    "with-sqlite": ({"database": "sqlite"}, "use_kubernetes needs database=postgresql"),
}


@pytest.mark.parametrize(
    "answers, fragment", KUBERNETES_REFUSALS.values(), ids=KUBERNETES_REFUSALS.keys()
)
def test_kubernetes_without_what_it_needs_is_refused(tmp_path, answers, fragment):
    # Several pods run the Docker image against one database: without an image, or with an
    # SQLite file inside one pod, the manifests could never work.
    out = tmp_path / "out"
    out.mkdir()
    result = cookiecutter_cli(
        tmp_path / "home", "--no-input", "-o", out, use_kubernetes="yes", **answers
    )
    refused_by_hook(result, fragment)
    assert leftovers(out) == []
