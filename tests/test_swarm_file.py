"""The Docker Swarm stack file, checked without an engine.

docker-compose 1.29 validates a file against the Compose schema, `deploy:` keys included (a
misspelt update order fails), and prints what it resolved; `docker stack deploy` reads the
same file on a swarm. The file ships with Docker and PostgreSQL only: replicas on several
machines cannot share an SQLite file.
"""

import json
import os
import subprocess

import pytest
import yaml

import servers

FILE = "compose.swarm.yaml"
IMAGE, TAG = "registry.example.com/my-flask-app", "0.2.0"
BASE_URL = "https://shop.example.com"


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


@pytest.fixture(scope="module")
def services(project):
    result = resolve(project, IMAGE=IMAGE, TAG=TAG, BASE_URL=BASE_URL)
    assert result.returncode == 0 and not result.stderr, result.stderr
    return yaml.safe_load(result.stdout)["services"]


def test_only_with_docker_and_postgresql(bake_once):
    assert not (bake_once(database="sqlite") / FILE).exists()
    assert not (bake_once(database="postgresql", use_docker=False) / FILE).exists()


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
    assert services["web"]["image"] == f"{IMAGE}:{TAG}"
    assert not any("build" in service for service in services.values())
    # Swarm ignores depends_on: the web replicas wait for the database by restarting.
    assert not any("depends_on" in service for service in services.values())


@pytest.mark.parametrize(
    "unset, message",
    [
        ("TAG", "set TAG to the version to deploy"),
        ("IMAGE", "set IMAGE to the image's"),
        ("BASE_URL", "set BASE_URL to the site's address"),
    ],
)
def test_a_deploy_without_an_image_version_or_address_is_refused(project, unset, message):
    result = resolve(project, **{"IMAGE": IMAGE, "TAG": TAG, "BASE_URL": BASE_URL, unset: ""})
    assert result.returncode != 0
    assert message in result.stderr


def test_the_app_settings_are_compose_prods_with_a_shared_redis(project, services):
    web = services["web"]["environment"]
    assert (web["APP_CONFIG"], web["FLASK_DEBUG"]) == ("production", "0")
    assert web["BASE_URL"] == BASE_URL  # production's required address, from the shell
    assert len(web["SECRET_KEY"]) == 64  # from .env
    assert "@db:5432/" in web["DATABASE_URL"]
    assert web["RATELIMIT_STORAGE_URI"] == "redis://redis:6379/0"
    assert services["redis"]["image"] == "redis:7-alpine"
    production = yaml.safe_load((project / "compose.prod.yaml").read_text())["services"]
    assert services["db"]["image"] == production["db"]["image"]
    assert services["db"]["healthcheck"]["test"] == production["db"]["healthcheck"]["test"]
    # The database's volume lives on one node: the database stays there.
    assert services["db"]["deploy"]["placement"]["constraints"] == ["node.role == manager"]
