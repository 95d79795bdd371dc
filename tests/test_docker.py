"""The baked Dockerfile and compose files, built and run for real on a private Docker daemon.

Base images come from tests/images (stand-ins made from Debian, see servers/docker.py), so
the projects are baked with python_version=3.11, the Python those stand-ins really have. Four
production stacks (SQLite and PostgreSQL, with and without nginx) and the development stack
come up side by side on free host ports; one PostgreSQL + nginx stack serves the sign-up,
static, scale and image checks. A browser-like client signs up over HTTPS through nginx,
trusting the certificate made with the baked README's command.
"""

import contextlib
import dataclasses
import json
import os
import re
import secrets
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import servers
from acme import Certbot, issue_serve_and_renew_under_load
from browser import Browser, signed_in_as
from servers import docker as containers

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("docker")]  # one daemon, one worker

SLUG = "my_flask_app"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}
PORTS = ("HTTP_PORT", "HTTPS_PORT", "WEB_PORT", "POSTGRES_PORT")  # the compose files read them
MAIL_OVERRIDE = "compose.test-mail.yaml"  # written by bake() next to nginx bakes' compose files
# The daemon's --ip covers only its default bridge; a compose project's own network binds a
# port published without an address (compose.prod.yaml's, as a server's should be) to every
# address unless the network says otherwise. This file, added to every stack, says 127.0.0.1.
LOOPBACK_OVERRIDE = "compose.test-loopback.yaml"
LOOPBACK_NETWORK = (
    "networks:\n  default:\n    driver_opts:\n"
    '      com.docker.network.bridge.host_binding_ipv4: "127.0.0.1"\n'
)
STACKS = {  # name: (answers, compose file)
    "postgresql-nginx": ({"database": "postgresql", "use_nginx": True}, "compose.prod.yaml"),
    "sqlite-nginx": ({"database": "sqlite", "use_nginx": True}, "compose.prod.yaml"),
    "postgresql": ({"database": "postgresql", "use_nginx": False}, "compose.prod.yaml"),
    "sqlite": ({"database": "sqlite", "use_nginx": False}, "compose.prod.yaml"),
    # The development stack reuses the PostgreSQL + nginx bake (and its image).
    "development": ({"database": "postgresql", "use_nginx": True}, "compose.yaml"),
}


# Interrupted: the daemon's clean-up still runs ------------------------------------------

INTERRUPTED_DAEMON = """
import json, sys
from servers import docker
try:
    with docker.docker_daemon() as daemon:
        print("ready", flush=True)  # the daemon answers `docker info`
        sys.stdin.read()  # until the signal
except KeyboardInterrupt:
    print(json.dumps(daemon.leftovers()), flush=True)  # after the context's clean-up
"""


@pytest.mark.docker
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupted_daemon_leaves_nothing_behind(signum):
    """Ctrl-C (SIGINT to the terminal's process group) or SIGTERM while the daemon runs: it
    stops, and its bridges, iptables rules, processes and folders go. First in its xdist
    group, before the session's daemon holds the lock; this one runs in a process of its own."""
    containers.prerequisites()
    tests = Path(__file__).parent
    process = subprocess.Popen(
        [sys.executable, "-c", INTERRUPTED_DAEMON],
        cwd=tests,
        env={**os.environ, "PYTHONPATH": str(tests)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    try:
        assert process.stdout.readline() == "ready\n", process.stderr.read()
        os.killpg(process.pid, signum)
        out, err = process.communicate(timeout=180)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert json.loads(out) == []


@dataclass
class Stack:
    """A compose project on the private daemon, and how to reach it from this machine."""

    docker: containers.Docker
    project: Path
    file: str
    name: str  # the compose project name
    ports: dict  # HTTP_PORT, HTTPS_PORT, WEB_PORT, POSTGRES_PORT
    overrides: tuple = ()  # more compose files the test adds (loopback, the stand-in mail)
    containers_seen: set = field(default_factory=set)

    def compose(self, *args, check=True):
        # BASE_URL from the shell, as compose.prod.yaml asks a user for their site's address.
        env = {**self.docker.env, **self.ports, "BASE_URL": self.https_url}
        docker = dataclasses.replace(self.docker, env=env)
        files = [option for name in (self.file, *self.overrides) for option in ("-f", name)]
        return docker.compose(self.project, "-p", self.name, *files, *args, check=check)

    def container(self, service, number=1):
        return f"{self.name}_{service}_{number}"

    def inspect(self, service, number=1):
        (found,) = containers.inspect(self.docker, self.container(service, number))
        return found

    def up(self):
        self.compose("up", "-d")
        containers.wait_for_compose(self.docker, self.name)
        self.containers_seen |= set(containers.container_ids(self.docker, self.name))

    def down(self):
        self.containers_seen |= set(containers.container_ids(self.docker, self.name))
        self.compose("down", "-v", "--remove-orphans")

    @property
    def https_url(self):
        return f"https://localhost:{self.ports['HTTPS_PORT']}"

    @property
    def web_url(self):
        return f"http://127.0.0.1:{self.ports['WEB_PORT']}"

    def certificate(self):
        return self.project / "certs" / "live" / SLUG / "fullchain.pem"

    def browser(self):
        """A browser on nginx's HTTPS port that trusts the stack's certificate."""
        return Browser(self.https_url, servers.trusting(self.certificate()))


def bake(output, answers):
    """A bake for the stand-in images, its certificate made with the README's command."""
    from cookiecutter.main import cookiecutter

    from conftest import TEMPLATE

    answers = {**answers, "python_version": "3.11"}  # the stand-in python image's version
    output.mkdir()
    project = Path(
        cookiecutter(str(TEMPLATE), no_input=True, output_dir=str(output), extra_context=answers)
    )
    # Five stacks share two cores here: fewer Gunicorn workers than the default 2 x cores + 1.
    with open(project / ".env", "a") as env:
        env.write("GUNICORN_WORKERS=2\n")
    (project / LOOPBACK_OVERRIDE).write_text(LOOPBACK_NETWORK)
    if answers["use_nginx"]:
        servers.make_certificate(project, project)
        # Production sends its account mails to the SMTP server MAIL_SERVER names; here that
        # is a stand-in Mailpit added beside the stack, whose API shows what it received.
        with open(project / ".env", "a") as env:
            env.write("MAIL_SERVER=mailpit\nMAIL_PORT=1025\nMAIL_DEFAULT_SENDER=app@example.com\n")
        (project / MAIL_OVERRIDE).write_text(
            "services:\n  mailpit:\n    image: axllent/mailpit:v1.20.4\n"
        )
    return project


@pytest.fixture(scope="session")
def stacks(docker, tmp_path_factory):
    """Every stack of STACKS built and brought up side by side; all taken down at the end."""
    output = tmp_path_factory.mktemp("docker")
    projects, made = {}, {}
    for name, (answers, file) in STACKS.items():
        key = tuple(sorted(answers.items()))
        if key not in projects:
            projects[key] = bake(output / name, answers)
        ports = {key: str(servers.free_port()) for key in PORTS}
        compose_name = "e2e" + name.replace("-", "") + secrets.token_hex(2)
        mail = (MAIL_OVERRIDE,) if answers["use_nginx"] and file == "compose.prod.yaml" else ()
        overrides = (LOOPBACK_OVERRIDE, *mail)
        made[name] = Stack(docker, projects[key], file, compose_name, ports, overrides)
    try:
        # One build per bake first, in parallel; `up` then reuses the images.
        production = [stack for stack in made.values() if stack.file == "compose.prod.yaml"]
        with ThreadPoolExecutor(len(production)) as pool:
            list(pool.map(lambda stack: stack.compose("build"), production))
        with ThreadPoolExecutor(len(made)) as pool:
            list(pool.map(Stack.up, made.values()))
        yield made
    finally:
        for stack in made.values():
            with contextlib.suppress(Exception):
                stack.down()


def assert_headers_once(response, hsts):
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get_all(name) == [value], name
    (policy,) = response.headers.get_all("Content-Security-Policy")
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    expected = ["max-age=63072000; includeSubDomains"] if hsts else None
    assert response.headers.get_all("Strict-Transport-Security") == expected


# Start-up order ------------------------------------------------------------------------


def moment(timestamp):
    """Docker's UTC time (RFC 3339, 0 to 9 fraction digits) as something that sorts."""
    seconds, _, fraction = timestamp.removesuffix("Z").partition(".")
    return seconds, float(f"0.{fraction or 0}")


@pytest.mark.parametrize("name", ["postgresql-nginx", "postgresql"])
def test_database_healthy_then_migrations_then_web(stacks, name):
    stack = stacks[name]
    db, migrate, web = (stack.inspect(service) for service in ("db", "migrate", "web"))
    # Docker keeps only the last 5 health checks, so when db first turned healthy is not
    # known: compose's `service_healthy` condition (test_deploy_files) says it waited.
    assert db["State"]["Health"]["Status"] == "healthy"
    assert moment(db["State"]["StartedAt"]) < moment(migrate["State"]["StartedAt"])
    assert migrate["State"]["ExitCode"] == 0
    assert moment(migrate["State"]["FinishedAt"]) <= moment(web["State"]["StartedAt"])
    assert web["State"]["Health"]["Status"] == "healthy"


# Through nginx, over HTTPS ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["postgresql-nginx", "sqlite-nginx"])
def test_sign_up_and_log_in_over_https(stacks, name):
    stack = stacks[name]
    browser = stack.browser()
    password = secrets.token_urlsafe(12)
    fields = {"username": "ada", "email": "ada@example.com", "password": password}
    assert browser.submit("/auth/register", **fields, confirm=password).status == 302
    link = verification_link(stack, "ada@example.com")
    assert link.startswith(f"{stack.https_url}/auth/verify/")
    assert browser.request(link.removeprefix(stack.https_url)).status == 302
    login = browser.submit("/auth/login", username="ada", password=password)
    assert (login.status, login.headers["Location"]) == (302, "/")
    assert all(cookie.secure for cookie in browser.cookies)
    home = browser.request("/")
    assert signed_in_as(home) == "ada"
    assert_headers_once(home, hsts=True)
    if name == "postgresql-nginx":
        env = stack_env(stack)
        psql = ["psql", "-U", env["POSTGRES_USER"], "-d", env["POSTGRES_DB"], "-At"]
        rows = stack.compose("exec", "-T", "db", *psql, "-c", 'SELECT username FROM "user"')
        assert rows.stdout.split() == ["ada"]


def verification_link(stack, address):
    """The link in the mail the `worker` service sent to the stand-in mail server."""
    mailpit = ("exec", "-T", "mailpit", "python3", "-c")
    return containers.mailpit_verification_link(
        lambda code: stack.compose(*mailpit, code).stdout, address, seconds=30
    )


def stack_env(stack):
    """The project's .env as a dict."""
    lines = (stack.project / ".env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def test_static_file_comes_from_nginx_with_the_headers_once(stacks):
    stack = stacks["postgresql-nginx"]
    marker = f"?{secrets.token_hex(4)}"
    page = stack.browser().request(f"/static/style.css{marker}")
    assert page.status == 200
    assert page.text == (stack.project / SLUG / "static" / "style.css").read_text()
    assert_headers_once(page, hsts=True)
    assert marker not in stack.docker.run("logs", stack.container("web")).stdout


def test_plain_http_redirects_to_https(stacks):
    stack = stacks["postgresql-nginx"]
    url = f"http://localhost:{stack.ports['HTTP_PORT']}/auth/login"
    page = Browser(url).request("")
    assert (page.status, page.headers["Location"]) == (301, "https://localhost/auth/login")


def test_scaled_web_replicas_all_get_requests_without_restarting_nginx(stacks):
    stack = stacks["postgresql-nginx"]
    started = stack.inspect("nginx")["State"]["StartedAt"]
    stack.compose("up", "-d", "--no-deps", "--no-recreate", "--scale", "web=3", "web")
    containers.wait_for_compose(stack.docker, stack.name)
    browser = stack.browser()
    marker = f"/hello/scale-{secrets.token_hex(4)}"
    for _ in range(30):
        assert browser.request(marker).status == 200
    for number in (1, 2, 3):
        assert marker in stack.docker.run("logs", stack.container("web", number)).stdout, number
    assert stack.inspect("nginx")["State"]["StartedAt"] == started


def test_image_runs_as_non_root_and_holds_no_secrets_or_tests(stacks):
    stack = stacks["postgresql-nginx"]
    image = stack.inspect("web")["Config"]["Image"]
    assert stack.docker.run("exec", stack.container("web"), "id", "-u").stdout.strip() == "10001"
    listing = stack.docker.run("run", "--rm", image, "ls", "-A", "/app").stdout.split()
    assert sorted(listing) == ["gunicorn.conf.py", "instance", "migrations", SLUG]
    secret = stack_env(stack)["SECRET_KEY"]
    search = f"find / -xdev -name .env -o -name privkey.pem; grep -rlF {secret} /app /opt"
    found = stack.docker.run("run", "--rm", image, "sh", "-c", search, check=False)
    assert found.stdout.strip() == ""


def process_status(stack, service):
    """The /proc/1/status fields of a service's first container, as a dict."""
    status = stack.docker.run("exec", stack.container(service), "cat", "/proc/1/status").stdout
    return dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)


def test_containers_are_hardened_as_the_kubernetes_pods(stacks):
    """compose.prod.yaml's hardening, in the running stack: nothing written outside /tmp, no
    capability in the app's containers and only nginx's four in its own, no privilege
    gained through a program."""
    stack = stacks["postgresql-nginx"]
    web = stack.container("web")
    refused = stack.docker.run("exec", web, "touch", "/app/instance/x", "/x", check=False)
    assert "Read-only file system" in refused.stderr
    assert stack.docker.run("exec", web, "touch", "/tmp/x").returncode == 0
    bits = {"CHOWN": 0, "SETGID": 6, "SETUID": 7, "NET_BIND_SERVICE": 10}
    for service, capabilities in (
        ("web", 0),
        ("worker", 0),
        ("nginx", sum(1 << b for b in bits.values())),
    ):
        status = process_status(stack, service)
        assert int(status["CapBnd"], 16) == capabilities, service
        assert status["NoNewPrivs"].strip() == "1", service
    for service in ("db", "redis"):
        assert process_status(stack, service)["NoNewPrivs"].strip() == "1", service


# Without nginx -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["sqlite", "postgresql"])
def test_without_nginx_gunicorn_serves_pages_with_the_security_headers(stacks, name):
    """TLS then ends at a load balancer in front: here the published port, plain HTTP."""
    browser = Browser(stacks[name].web_url)
    health = browser.request("/healthz")
    assert (health.status, json.loads(health.text)) == (200, {"status": "ok"})
    home = browser.request("/")
    assert home.status == 200
    assert_headers_once(home, hsts=False)  # HSTS means nothing over plain HTTP
    # The Secure session cookie never comes back over plain HTTP: the form says why.
    page = browser.submit("/auth/login", username="ada", password="whatever")
    assert page.status == 400
    assert "This site needs HTTPS" in page.text


# Development ---------------------------------------------------------------------------------


def test_development_stack_is_healthy_on_the_port_it_serves(stacks):
    stack = stacks["development"]
    assert stack.inspect("web")["State"]["Health"]["Status"] == "healthy"
    page = Browser(stack.web_url).request("/healthz")
    assert page.status == 200


# Backups: the `backup` service and the restore drill (docs/backups.md) ---------------------

DRILL_PASSWORD = "a quiet heron at dawn"


def api_call(stack, path, data=None, token=None):
    """(status, JSON body) of an API request through nginx, over HTTPS."""
    import urllib.error
    import urllib.request

    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = json.dumps(data).encode() if data is not None else None
    request = urllib.request.Request(stack.https_url + path, body, headers)
    context = servers.trusting(stack.certificate())
    try:
        with urllib.request.urlopen(request, timeout=30, context=context) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def test_a_dropped_database_comes_back_from_the_backup_service(stacks):
    """The drill on the Compose stack: an account and an API token, a backup by the `backup`
    service, the database dropped and made again empty, the documented restore command, then
    the same password and the same token work through nginx."""
    from test_backups_e2e import CREATE_ACCOUNT

    stack = stacks["postgresql-nginx"]
    backup = ("exec", "-T", "backup", "sh", "/pg-backup.sh")
    listed = stack.compose(*backup, "list").stdout
    assert re.search(r"Z-\w+\.dump", listed), listed  # the one it made when it started
    create = CREATE_ACCOUNT.replace('"ada"', '"grace"').replace("ada@", "grace@")
    made = stack.compose("exec", "-T", "web", "python", "-c", create, DRILL_PASSWORD)
    token = made.stdout.split()[-1]
    assert api_call(stack, "/api/users/me", token=token)[0] == 200
    file = stack.compose(*backup, "now").stdout.split()[-1]
    assert file.startswith("/backups/") and file.endswith(".dump")

    env = stack_env(stack)
    psql = ["exec", "-T", "db", "psql", "-U", env["POSTGRES_USER"], "-d", "postgres"]
    psql += ["-v", "ON_ERROR_STOP=1", "-c"]
    stack.compose(*psql, f'DROP DATABASE "{env["POSTGRES_DB"]}" WITH (FORCE)')
    stack.compose(*psql, f'CREATE DATABASE "{env["POSTGRES_DB"]}"')

    assert "restored" in stack.compose(*backup, "restore", file).stdout
    me = api_call(stack, "/api/users/me", token=token)
    new = api_call(stack, "/api/tokens", {"username": "grace", "password": DRILL_PASSWORD})
    assert me[0] == 200 and me[1]["username"] == "grace"
    assert new[0] == 201 and new[1]["token"]


# A certificate from an ACME server ---------------------------------------------------------


def test_acme_certificate_is_issued_served_and_renewed_without_a_failed_request(stacks, tmp_path):
    """docs/certificates.md's Compose commands, against Pebble on loopback: certbot on this
    machine gets the certificate through the stack's nginx (the checks come from certs/www
    on the published HTTP port), the deploy hook reloads nginx in its container, and a
    forced renewal under load fails no request. Last before the stacks go: the stack then
    serves Pebble's certificate, not the trial one the other tests trust."""
    servers.need("certbot")
    stack = stacks["sqlite-nginx"]
    # The docs' reload, with this stack's project name (docker-compose is Compose v1 here).
    compose = f"docker-compose -p {stack.name} -f {stack.project / stack.file}"
    settings = {
        "CERTBOT_DIR": "certs",
        "ACME_WEBROOT": "certs/www",
        "ACME_RELOAD": f"{compose} exec -T nginx nginx -s reload",
    }
    with servers.pebble(int(stack.ports["HTTP_PORT"])) as pebble:
        certbot = Certbot(stack.project, pebble, tmp_path, settings, stack.docker.env)
        load = issue_serve_and_renew_under_load(certbot, int(stack.ports["HTTPS_PORT"]))
    print(f"compose renewal under load: {sum(load.served)} served, {len(load.retried)} resent")


# Taking it all down ----------------------------------------------------------------------------


def container_processes(ids):
    """Host processes whose command line names one of the containers (their shims)."""
    found = []
    for path in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            text = path.read_bytes().decode(errors="replace")
            if any(container in text for container in ids):
                found.append(int(path.parent.name))
    return found


def test_every_published_port_listens_on_loopback_only(stacks):
    """compose.prod.yaml publishes its ports on every address, as a server's should; the
    tests' LOOPBACK_OVERRIDE keeps them off this machine's other addresses."""
    published = stacks["postgresql-nginx"].docker.run("ps", "--format", "{{.Ports}}").stdout
    bindings = re.findall(r"([\d.:\[\]]+):\d+->", published)
    assert bindings and set(bindings) == {"127.0.0.1"}, published


def test_down_leaves_no_container_volume_network_or_process(stacks):
    for stack in stacks.values():
        stack.down()
        assert containers.compose_leftovers(stack.docker, stack.name) == []
        assert stack.containers_seen
        assert container_processes(stack.containers_seen) == []
