"""The secrets a bake makes are strong, fresh, private, and stay out of git, images and logs."""

import fnmatch
import stat

import pytest

from conftest import git
from cookiecutter_cli import cookiecutter_cli, replay_file

DATABASES = ["sqlite", "postgresql"]


def read_env(project):
    """The KEY=value lines of a baked project's .env as a dict."""
    lines = (project / ".env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def secrets_of(project):
    """The values in .env that must never leave it."""
    env = read_env(project)
    return [env[key] for key in ("SECRET_KEY", "POSTGRES_PASSWORD") if key in env]


def dockerignore_excludes(project, name):
    """Whether .dockerignore keeps the top-level file `name` out of the build context.

    As Docker does: patterns are read in order, the last one that matches wins, and one
    starting with `!` brings a file back.
    """
    excluded = False
    for line in (project / ".dockerignore").read_text().splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        include = pattern.startswith("!")
        if fnmatch.fnmatchcase(name, pattern.removeprefix("!").strip("/")):
            excluded = not include
    return excluded


@pytest.mark.parametrize("database", DATABASES)
def test_secrets_have_256_bits_and_are_new_in_every_bake(bake_once, bake, database):
    # The session's shared bake and a new one: two bakes of the same answers.
    first, second = read_env(bake_once(database=database)), read_env(bake(database=database))
    assert len(bytes.fromhex(first["SECRET_KEY"])) >= 32
    assert first["SECRET_KEY"] != second["SECRET_KEY"]
    if database == "postgresql":
        assert len(bytes.fromhex(first["POSTGRES_PASSWORD"])) >= 16
        assert first["POSTGRES_PASSWORD"] != second["POSTGRES_PASSWORD"]
        assert first["POSTGRES_PASSWORD"] in first["DATABASE_URL"]


def test_env_is_readable_by_its_owner_only(bake_once):
    mode = stat.S_IMODE((bake_once() / ".env").stat().st_mode)
    assert mode == 0o600, oct(mode)


def test_env_is_kept_out_of_docker_images(bake_once):
    project = bake_once(use_docker=True)
    assert dockerignore_excludes(project, ".env")
    assert dockerignore_excludes(project, ".env.production")


@pytest.mark.parametrize("database", DATABASES)
def test_git_add_stages_no_file_holding_a_secret(bake_copy, database):
    project = bake_copy(database=database)
    git(project, "init", "-q")
    git(project, "add", "-A")
    staged = git(project, "ls-files").stdout.splitlines()
    assert "pyproject.toml" in staged and ".env.example" in staged
    assert ".env" not in staged
    git(project, "check-ignore", "-q", ".env")  # fails unless .env is ignored
    patterns = [arg for secret in secrets_of(project) for arg in ("-e", secret)]
    found = git(project, "grep", "--cached", "-l", "-F", *patterns, check=False)
    assert found.returncode == 1, f"staged files hold a secret: {found.stdout}"


@pytest.mark.parametrize("database", DATABASES)
def test_secrets_never_reach_the_replay_file_hook_copies_or_output(tmp_path, database):
    # HOME holds cookiecutter's replay folder; TMPDIR (inside it too) the rendered hooks
    # cookiecutter leaves behind. Neither may hold a secret, nor may the bake's output.
    home = tmp_path / "home"
    result = cookiecutter_cli(home, "--no-input", "-o", tmp_path / "out", database=database)
    assert result.returncode == 0, result.stderr
    project = tmp_path / "out" / "my_flask_app"
    assert replay_file(home).exists()
    assert list((home / "tmp").glob("*.py")), "expected cookiecutter's rendered hook copies"
    files = [path for path in home.rglob("*") if path.is_file()]
    for secret in secrets_of(project):
        assert secret not in result.stdout + result.stderr
        holding = [path for path in files if secret in path.read_text(errors="replace")]
        assert holding == []


@pytest.mark.parametrize("options", [["-f"], ["-f", "-s"]], ids=["overwrite", "overwrite-skip"])
def test_rebaking_over_a_project_keeps_its_env_and_says_so(tmp_path, options):
    home, out = tmp_path / "home", tmp_path / "out"
    first = cookiecutter_cli(home, "--no-input", "-o", out)
    assert first.returncode == 0, first.stderr
    assert "Wrote .env with a new SECRET_KEY" in first.stdout
    env = out / "my_flask_app" / ".env"
    before = env.read_bytes()
    again = cookiecutter_cli(home, "--no-input", *options, "-o", out)
    assert again.returncode == 0, again.stderr
    assert "Kept your existing .env" in again.stdout
    assert "does not match your answers" not in again.stdout
    assert env.read_bytes() == before
    assert stat.S_IMODE(env.stat().st_mode) == 0o600


REBAKES = {
    "to-postgresql": ("sqlite", "postgresql", "DATABASE_URL is SQLite but you chose PostgreSQL"),
    "to-sqlite": ("postgresql", "sqlite", "DATABASE_URL is PostgreSQL but you chose SQLite"),
}


@pytest.mark.parametrize("first, then, note", REBAKES.values(), ids=REBAKES.keys())
def test_rebaking_with_another_database_keeps_env_and_says_what_to_change(
    tmp_path, bake_once, first, then, note
):
    home, out = tmp_path / "home", tmp_path / "out"
    assert cookiecutter_cli(home, "--no-input", "-o", out, database=first).returncode == 0
    env = out / "my_flask_app" / ".env"
    before = env.read_bytes()
    again = cookiecutter_cli(home, "--no-input", "-f", "-o", out, database=then)
    assert again.returncode == 0, again.stderr
    assert env.read_bytes() == before
    assert note in again.stdout
    # The lines it prints, put into .env, give the settings a fresh bake of that choice has.
    shown = again.stdout.split("to use what you chose", 1)[1].split("Next steps:")[0]
    lines = [line.strip() for line in shown.splitlines()[1:] if line.strip()]
    settings = {**read_env(out / "my_flask_app"), **dict(line.split("=", 1) for line in lines)}
    expected = read_env(bake_once(database=then))  # what a fresh bake of that choice writes
    assert settings.keys() >= expected.keys()
    assert settings["DATABASE_URL"].split(":")[0] == expected["DATABASE_URL"].split(":")[0]
    if then == "postgresql":
        assert settings["POSTGRES_PASSWORD"] in settings["DATABASE_URL"]
