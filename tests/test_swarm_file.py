"""The Docker Swarm stack file, checked without an engine (test_swarm.py runs it for real).

docker-compose 1.29 validates a file against the Compose schema, `deploy:` keys included (a
misspelt update order fails), and prints what it resolved; `docker stack deploy` reads the
same file on a swarm. The file ships with Docker, nginx and PostgreSQL only: replicas on
several machines cannot share an SQLite file, and TLS ends at the nginx site.
"""

import json
import os
import subprocess

import pytest
import yaml

import servers

FILE = "compose.swarm.yaml"
SLUG = "my_flask_app"
IMAGE, TAG = "registry.example.com/my-flask-app", "0.2.0"
BASE_URL = "https://shop.example.com"
# The mail relay's settings, from the shell as the header's export line gives them.
MAIL = {
    "MAIL_SERVER": "smtp.example.com",
    "MAIL_PORT": "587",
    "MAIL_USE_TLS": "true",
    "MAIL_USERNAME": "shop",
}


def resolve(project, **env):
    """What docker-compose resolves from the stack file with these shell variables set."""
    return subprocess.run(
        [servers.need("docker-compose"), "-f", FILE, "config"],
        cwd=project,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def project(bake_once):
    """The stack file has no parts that depend on other options: one bake."""
    return bake_once(database="postgresql")


# docker-compose's only remark: it runs no stacks, so it would not use the configs.
CONFIGS_IGNORED = "Some services (backup, nginx) use the 'configs' key, which will be ignored."


@pytest.fixture(scope="module")
def stack(project):
    result = resolve(project, IMAGE=IMAGE, TAG=TAG, BASE_URL=BASE_URL, SITE_VERSION="abc", **MAIL)
    assert result.returncode == 0, result.stderr
    assert [line for line in result.stderr.splitlines() if line.strip()] == [
        CONFIGS_IGNORED + " Compose does not support 'configs' configuration - use "
        "`docker stack deploy` to deploy to a swarm."
    ]
    return yaml.safe_load(result.stdout)


@pytest.fixture(scope="module")
def services(stack):
    return stack["services"]


def test_only_with_docker_nginx_and_postgresql(bake_once):
    assert not (bake_once(database="sqlite") / FILE).exists()
    assert not (bake_once(database="postgresql", use_docker=False) / FILE).exists()
    assert not (bake_once(database="postgresql", use_nginx=False) / FILE).exists()


def test_tls_ends_at_nginx_on_each_nodes_own_ports_and_the_app_publishes_none(project, stack):
    nginx = stack["services"]["nginx"]
    assert nginx["image"] == "nginx:stable-alpine"
    # Host mode: Swarm's routing mesh needs IPVS, which a kernel may lack.
    ports = {(port["target"], port["published"], port["mode"]) for port in nginx["ports"]}
    assert ports == {(80, 80, "host"), (443, 443, "host")}
    assert nginx["deploy"]["mode"] == "global"
    assert not any("ports" in stack["services"][name] for name in ("web", "worker", "db", "redis"))
    # The shipped site as a config any node can get; certbot's folder and its checks' webroot
    # from the node, read-only, where certbot renews the certificate (nginx reloads in place).
    (site,) = nginx["configs"]
    assert site["target"] == "/etc/nginx/conf.d/default.conf"
    assert stack["configs"][site["source"]]["file"] == str(project / "nginx" / f"{SLUG}.conf")
    assert "secrets" not in nginx
    assert nginx["volumes"] == [
        f"{project / 'certs'}:/etc/letsencrypt:ro",
        f"{project / 'certs' / 'www'}:/var/www/certbot:ro",
    ]
    live = f"/etc/letsencrypt/live/{SLUG}"
    site_text = (project / "nginx" / f"{SLUG}.conf").read_text()
    assert f"ssl_certificate {live}/fullchain.pem;" in site_text
    assert f"ssl_certificate_key {live}/privkey.pem;" in site_text


def test_every_service_is_found_by_dns_not_a_virtual_address(services):
    """Service VIPs need IPVS too; nginx asks Docker's DNS for the healthy replicas."""
    assert {name: s["deploy"]["endpoint_mode"] for name, s in services.items()} == {
        name: "dnsrr" for name in ("nginx", "web", "worker", "db", "redis", "backup")
    }


def test_nginx_asks_dns_again_before_swarm_stops_a_replica_it_dropped(project):
    """Swarm drops a replica from DNS 2 s before stopping it: an answer kept longer could
    name one that is gone, whose address swallows connections (a request took 10 s)."""
    site = (project / "nginx" / f"{SLUG}.conf").read_text()
    assert "resolver 127.0.0.11 valid=2s ipv6=off;" in site


def test_secrets_reach_the_containers_as_files_only(project, stack):
    services = stack["services"]
    for app in (services["web"], services["worker"]):
        assert app["environment"]["SECRETS_DIR"] == "/run/secrets"
        assert {item["target"]: item["source"] for item in app["secrets"]} == {
            "SECRET_KEY": "secret_key",
            "DATABASE_PASSWORD": "postgres_password",
            "MAIL_PASSWORD": "mail_password",
        }
    # The database server reads the same password secret (the official image's _FILE way).
    for db in (services["db"], services["backup"]):  # and its backups (bin/pg-backup.sh)
        assert [item["source"] for item in db["secrets"]] == ["postgres_password"]
        assert db["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    names = ("secret_key", "postgres_password", "mail_password")
    assert {stack["secrets"][name]["name"] for name in names} == {
        "my-flask-app-secret-key-1",
        "my-flask-app-postgres-password-1",
        "my-flask-app-mail-password-1",
    }
    # No secret in any environment: .env is not read, and the URL names no password.
    dotenv = dict(
        line.split("=", 1) for line in (project / ".env").read_text().splitlines() if "=" in line
    )
    values = [str(value) for s in services.values() for value in s.get("environment", {}).values()]
    for name in ("SECRET_KEY", "POSTGRES_PASSWORD"):
        assert not any(dotenv[name] in value for value in values), name
    assert not any("env_file" in service for service in services.values())
    # The header's commands make both secrets from .env.
    text = (project / FILE).read_text()
    assert 'printf %s "$SECRET_KEY" | docker secret create my-flask-app-secret-key-1 -' in text
    assert '"$POSTGRES_PASSWORD" | docker secret create my-flask-app-postgres-password-1 -' in text
    assert '"${MAIL_PASSWORD:-none}" | docker secret create my-flask-app-mail-password-1 -' in text


def test_a_changed_site_or_secret_is_a_new_name_for_the_next_deploy(project):
    """Configs and secrets cannot change once made: the site's name is its content's hash,
    each secret's carries a number that .env or the shell may raise."""
    env = dict(IMAGE=IMAGE, TAG=TAG, BASE_URL=BASE_URL, **MAIL)
    result = resolve(project, **env, SITE_VERSION="1a2b", MAIL_PASSWORD_VERSION="2")
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)
    assert resolved["configs"]["site"]["name"] == "my-flask-app-site-1a2b"
    assert resolved["secrets"]["mail_password"]["name"] == "my-flask-app-mail-password-2"
    assert resolved["secrets"]["secret_key"]["name"] == "my-flask-app-secret-key-1"
    assert "SITE_VERSION" in resolve(project, **env).stderr  # refused without it
    text = (project / FILE).read_text()
    assert f"SITE_VERSION=$(sha256sum nginx/{SLUG}.conf | cut -c1-12)" in text


def test_nginx_is_replaced_one_node_at_a_time_and_finishes_its_requests(services):
    """Its ports allow no start-first; SIGQUIT (the image's) with time to finish requests."""
    nginx = services["nginx"]
    update = nginx["deploy"]["update_config"]
    assert (update["order"], update["parallelism"], update["failure_action"]) == (
        "stop-first",
        1,
        "rollback",
    )
    assert update["delay"] == "30s"
    assert nginx["deploy"]["rollback_config"]["order"] == "stop-first"
    assert nginx["stop_grace_period"] == "30s"


def test_three_web_replicas_updated_start_first_and_rolled_back_on_failure(services):
    deploy = services["web"]["deploy"]
    assert deploy["replicas"] == 3
    update = deploy["update_config"]
    assert (update["order"], update["failure_action"], update["parallelism"]) == (
        "start-first",
        "rollback",
        1,
    )
    assert deploy["rollback_config"]["order"] == "start-first"
    assert deploy["restart_policy"]["condition"] == "any"


def test_a_new_replica_counts_as_started_only_when_the_app_is_ready(services):
    check = services["web"]["healthcheck"]
    assert check["test"][0] == "CMD"
    assert "http://127.0.0.1:8000/readyz" in check["test"][-1]
    assert check["start_period"]  # time to migrate before failures count


def test_each_replica_migrates_then_runs_the_images_gunicorn(project, services):
    (command,) = [
        line
        for line in (project / "Dockerfile").read_text().splitlines()
        if line.startswith("CMD")
    ]
    image_command = " ".join(json.loads(command.removeprefix("CMD ")))
    assert services["web"]["command"] == ["sh", "-c", f"flask db upgrade && exec {image_command}"]


def test_the_image_is_the_pushed_version_and_nothing_is_built(services):
    assert services["web"]["image"] == services["worker"]["image"] == f"{IMAGE}:{TAG}"
    assert not any("build" in service for service in services.values())
    # Swarm ignores depends_on: the web replicas wait for the database by restarting.
    assert not any("depends_on" in service for service in services.values())


@pytest.mark.parametrize(
    "unset, message",
    [
        ("TAG", "set TAG to the version to deploy"),
        ("IMAGE", "set IMAGE to the image's"),
        ("BASE_URL", "set BASE_URL to the site's address"),
        ("MAIL_SERVER", "set MAIL_SERVER to the mail relay"),
    ],
)
def test_a_deploy_without_an_image_version_or_address_is_refused(project, unset, message):
    settings = {"IMAGE": IMAGE, "TAG": TAG, "BASE_URL": BASE_URL, **MAIL, unset: ""}
    result = resolve(project, **settings)
    assert result.returncode != 0
    assert message in result.stderr


def test_the_app_settings_are_compose_prods_with_a_shared_redis(project, services):
    web = services["web"]["environment"]
    assert (web["APP_CONFIG"], web["FLASK_DEBUG"]) == ("production", "0")
    assert web["BASE_URL"] == BASE_URL  # production's required address, from the shell
    assert web["TRUSTED_PROXIES"] == "1"  # nginx
    assert web["DATABASE_URL"] == f"postgresql+psycopg://{SLUG}@db:5432/{SLUG}"
    assert web["RATELIMIT_STORAGE_URI"] == "redis://redis:6379/0"
    assert web["JOBS_REDIS_URL"] == "redis://redis:6379/1"
    # The mail relay, as the header's export line sets it; its password is a secret.
    assert {name: web[name] for name in MAIL} == MAIL
    assert (web["MAIL_USE_SSL"], web["MAIL_DEFAULT_SENDER"]) == ("false", "noreply@localhost")
    assert "MAIL_PASSWORD" not in web
    assert services["worker"]["environment"] == web  # the worker sends what the web queues
    assert services["redis"]["image"] == "redis:7-alpine"
    production = yaml.safe_load((project / "compose.prod.yaml").read_text())["services"]
    # Queued mails outlive a restart of Redis, in its volume, on the node that holds it.
    redis = services["redis"]
    assert (
        redis["command"]
        == production["redis"]["command"]
        == [
            "redis-server",
            "--appendonly",
            "yes",
        ]
    )
    assert redis["volumes"] == ["redis-data:/data:rw"]
    assert redis["deploy"]["placement"]["constraints"] == ["node.role == manager"]
    assert services["db"]["image"] == production["db"]["image"]
    assert services["db"]["healthcheck"]["test"] == production["db"]["healthcheck"]["test"]
    # The database's volume lives on one node: the database stays there.
    assert services["db"]["deploy"]["placement"]["constraints"] == ["node.role == manager"]


def test_two_job_workers_send_the_mails_and_finish_a_job_before_they_stop(services):
    worker = services["worker"]
    assert worker["command"] == ["flask", "jobs", "worker"]
    assert worker["healthcheck"]["test"] == [
        "CMD-SHELL",
        f"find /tmp/{SLUG}-worker-heartbeat -mmin -1 | grep -q .",
    ]
    assert worker["stop_grace_period"] == "130s"  # longer than a job may run (120 s)
    deploy = worker["deploy"]
    assert deploy["replicas"] == 2
    assert deploy["update_config"]["failure_action"] == "rollback"
    assert deploy["restart_policy"]["condition"] == "any"


def test_gunicorn_postgresql_and_redis_are_on_the_internal_network_only(stack):
    """An internal overlay gives its tasks no docker_gwbridge address, through which a
    process on the node would reach them (test_swarm.py checks it on a swarm); nginx's ports
    and the workers' mail relay go through the other network; the backup service needs only
    the database."""
    services, networks = stack["services"], stack["networks"]
    assert networks["backend"]["internal"] is True
    assert not networks["outside"].get("internal")
    assert {name: set(s["networks"]) for name, s in services.items()} == {
        "nginx": {"backend", "outside"},
        "web": {"backend"},
        "worker": {"backend", "outside"},
        "db": {"backend"},
        "redis": {"backend"},
        "backup": {"backend"},
    }
