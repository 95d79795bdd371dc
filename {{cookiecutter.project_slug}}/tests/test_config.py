import pytest
from click.testing import CliRunner
from flask.cli import FlaskGroup
from sqlalchemy.engine import make_url

from {{ cookiecutter.project_slug }} import create_app
from {{ cookiecutter.project_slug }}.config import (
    KEY_COMMAND,
    PLACEHOLDER_SECRET,
    SettingsError,
    load_config,
)

STRONG_SECRET = "a3f1" * 16


@pytest.fixture
def production_env(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", STRONG_SECRET)
    monkeypatch.setenv("BASE_URL", "https://app.example.com")
    monkeypatch.delenv("SESSION_COOKIE_SECURE", raising=False)
    monkeypatch.delenv("FLASK_DEBUG", raising=False)
    return monkeypatch


def test_production_is_the_default(production_env):
    production_env.delenv("APP_CONFIG", raising=False)
    app = create_app()
    assert not app.debug
    assert not app.testing


def test_production_ignores_flask_debug(production_env):
    production_env.setenv("FLASK_DEBUG", "1")
    assert not create_app("production").debug


@pytest.mark.parametrize("secret", [None, "", "short", PLACEHOLDER_SECRET, "x" * 31])
def test_production_refuses_a_weak_secret(production_env, secret):
    if secret is None:
        production_env.delenv("SECRET_KEY")
    else:
        production_env.setenv("SECRET_KEY", secret)
    with pytest.raises(RuntimeError, match="SECRET_KEY must be set"):
        create_app("production")


@pytest.mark.parametrize("url", [None, "", "app.example.com", "ftp://app.example.com", "https://"])
def test_production_refuses_to_serve_without_its_address(production_env, url):
    if url is None:
        production_env.delenv("BASE_URL")
    else:
        production_env.setenv("BASE_URL", url)
    with pytest.raises(SettingsError, match="BASE_URL must be set") as refused:
        create_app("production")
    assert "\n" not in str(refused.value)  # one line


def test_production_migrates_without_its_address(production_env):
    production_env.delenv("BASE_URL")
    cli = FlaskGroup(create_app=lambda: create_app("production"), load_dotenv=False)
    assert CliRunner().invoke(cli, ["routes"]).exit_code == 0


def test_production_cookies(production_env):
    config = create_app("production").config
    for prefix in ("SESSION_COOKIE_", "REMEMBER_COOKIE_"):
        assert config[prefix + "HTTPONLY"]
        assert config[prefix + "SAMESITE"] == "Lax"
        assert config[prefix + "SECURE"]


def test_secure_cookies_can_be_turned_off_for_plain_http(production_env):
    production_env.setenv("SESSION_COOKIE_SECURE", "0")
    config = create_app("production").config
    assert not config["SESSION_COOKIE_SECURE"]
    assert not config["REMEMBER_COOKIE_SECURE"]


def test_database_url_from_environment(production_env):
    production_env.setenv("DATABASE_URL", "sqlite:///elsewhere.sqlite")
    assert create_app("production").config["SQLALCHEMY_DATABASE_URI"].endswith("elsewhere.sqlite")


def test_unknown_config_name():
    with pytest.raises(RuntimeError, match="is not one of"):
        create_app("staging")


def test_development_without_a_secret_refuses_to_serve(monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(SettingsError, match=r"SECRET_KEY is not set.* `cp \.env\.example \.env"):
        create_app("development")


def server_must_not_start(*args, **kwargs):
    raise AssertionError("flask run started a server")


def test_flask_commands_but_run_need_no_secret(monkeypatch):
    # A fresh checkout has no .env: `flask routes` works, `flask run` says what to do.
    monkeypatch.delenv("SECRET_KEY", raising=False)
    cli = FlaskGroup(create_app=lambda: create_app("development"), load_dotenv=False)
    routes = CliRunner().invoke(cli, ["routes"])
    assert routes.exit_code == 0, routes.output
    assert "/auth/login" in routes.output
    monkeypatch.setattr("flask.cli.run_simple", server_must_not_start)
    run = CliRunner().invoke(cli, ["run"])
    assert run.exit_code == 1
    assert run.output.startswith("Error: SECRET_KEY is not set"), run.output


@pytest.mark.parametrize("secret", [PLACEHOLDER_SECRET, "short"])
def test_flask_run_warns_once_about_a_weak_development_secret(monkeypatch, secret):
    # `cp .env.example .env` without a new key: development runs, production would refuse.
    monkeypatch.setenv("SECRET_KEY", secret)
    monkeypatch.setattr("flask.cli.run_simple", lambda *args, **kwargs: None)
    cli = FlaskGroup(create_app=lambda: create_app("development"), load_dotenv=False)
    run = CliRunner().invoke(cli, ["run"])
    assert run.exit_code == 0, run.output
    assert run.output.count("Warning: SECRET_KEY in .env is a placeholder or too short") == 1
    assert KEY_COMMAND in run.output
    routes = CliRunner().invoke(cli, ["routes"])  # only serving warns
    assert routes.exit_code == 0 and "Warning" not in routes.output


def test_secrets_can_come_as_files_in_secrets_dir(production_env, tmp_path):
    """Kubernetes mounts a Secret's keys as files; Docker Swarm its secrets in /run/secrets."""
    production_env.delenv("SECRET_KEY")
    production_env.delenv("DATABASE_URL", raising=False)
    (tmp_path / "SECRET_KEY").write_text(STRONG_SECRET + "\n")  # files often end with one
    (tmp_path / "DATABASE_URL").write_text("sqlite:///from-a-file.sqlite\n")
    production_env.setenv("SECRETS_DIR", str(tmp_path))
    config = create_app("production").config
    assert config["SECRET_KEY"] == STRONG_SECRET
    assert config["SQLALCHEMY_DATABASE_URI"].endswith("from-a-file.sqlite")
    assert config["RATELIMIT_STORAGE_URI"] == "memory://"  # no file: the default


def test_the_database_password_can_come_as_a_file_of_its_own(production_env, tmp_path):
    """Docker Swarm hands one password secret to PostgreSQL and the app alike."""
    production_env.setenv("DATABASE_URL", "postgresql+psycopg://app@db:5432/app")
    (tmp_path / "DATABASE_PASSWORD").write_text("p@ss/word:1\n")  # quoted in the URL
    production_env.setenv("SECRETS_DIR", str(tmp_path))
    # The settings alone: an SQLite project has no PostgreSQL driver to make an engine with.
    uri = load_config("production").SQLALCHEMY_DATABASE_URI
    assert uri == "postgresql+psycopg://app:p%40ss%2Fword%3A1@db:5432/app"
    assert make_url(uri).password == "p@ss/word:1"


def test_the_environment_wins_over_a_secret_file(production_env, tmp_path):
    (tmp_path / "SECRET_KEY").write_text("b" * 64)
    production_env.setenv("SECRETS_DIR", str(tmp_path))
    assert create_app("production").config["SECRET_KEY"] == STRONG_SECRET
