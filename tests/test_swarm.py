"""The Swarm stack (compose.swarm.yaml) deployed for real, on the private daemon in Swarm mode.

A one-node swarm runs the shipped file with the commands its header gives (secrets from .env,
`docker stack deploy`), on the stand-in images, beside a stand-in mail server. One test
walks a release's whole life, as each step needs the one before: deploy, then sign up over
HTTPS through nginx (the mail sent by a job worker); a second image under load, replica
by replica, with no failed request; then a broken image (its Gunicorn listens on the wrong
port, so its health check fails), which Swarm rolls back by itself, again with no failed
request; last, a certificate from Pebble (Let's Encrypt's test server) replaces the trial one
and renews under load with no failed request, as docs/certificates.md runs certbot. The second
and the broken image are thin layers on the first, so only one image is really built.

This machine's kernel has no IPVS, so the stack uses what works on any swarm: DNS round robin
and ports published on the node itself. Those bind to loopback only, as docker_gwbridge is
made with host_binding_ipv4=127.0.0.1 before `swarm init`. At the end `docker swarm leave
--force` removes the swarm's network namespaces and its VXLAN socket; the daemon fixture then
checks that the machine is as it was.
"""

import contextlib
import dataclasses
import hashlib
import http.client
import json
import re
import secrets
import threading
import time
from pathlib import Path

import pytest

import servers
from acme import (
    Certbot,
    first_certificate,
    issue_serve_and_renew_under_load,
    served_once_reloaded,
)
from acme import Load as RetryingLoad
from browser import Browser, signed_in_as
from servers import docker as containers

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.xdist_group("docker")]

SLUG = "my_flask_app"
STACK = "my-flask-app"  # the name the file's header deploys it as
IMAGE = "local/e2e-swarm"
MAIL_FILE = "compose.test-mail.yaml"
VXLAN_PORT = 4789
# The load: keep-alive HTTPS clients through nginx, each at most RATE requests a second,
# for at most LOAD_SECONDS (an update takes about 80 s here).
CLIENTS, RATE, LOAD_SECONDS = 4, 25, 300
SETTLE_SECONDS = 300  # the longest a deploy, update or rollback may take


# The swarm -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def swarm(docker):
    """The private daemon as a one-node swarm whose published ports bind to loopback."""
    docker.run(
        "network", "create", "--driver", "bridge",
        "--opt", "com.docker.network.bridge.name=docker_gwbridge",
        "--opt", "com.docker.network.bridge.enable_icc=false",
        "--opt", "com.docker.network.bridge.enable_ip_masquerade=true",
        "--opt", "com.docker.network.bridge.host_binding_ipv4=127.0.0.1",
        "docker_gwbridge",
    )  # fmt: skip
    try:
        init = ("swarm", "init", "--advertise-addr", "127.0.0.1")
        docker.run(*init, "--listen-addr", "127.0.0.1:2377")
        yield docker
        docker.run("swarm", "leave", "--force")
        assert not udp_listening(VXLAN_PORT)
    finally:
        docker.run("swarm", "leave", "--force", check=False)
        docker.run("network", "rm", "docker_gwbridge", check=False)


def udp_listening(port):
    table = Path("/proc/net/udp").read_text().splitlines()[1:]
    return any(line.split()[1].endswith(f":{port:04X}") for line in table)


def tcp_listeners(port):
    """The local addresses (hex, as /proc/net/tcp writes them) listening on a TCP port."""
    found = []
    for name in ("tcp", "tcp6"):
        for line in Path("/proc/net", name).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            if state == "0A" and local.endswith(f":{port:04X}"):
                found.append(local.rsplit(":", 1)[0])
    return found


# The release -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A PostgreSQL + nginx bake for the stand-in python image, with the README's certificate
    and a stand-in Mailpit to deploy beside the stack."""
    from cookiecutter.main import cookiecutter

    from conftest import TEMPLATE

    answers = {"database": "postgresql", "use_nginx": True, "python_version": "3.11"}
    output = tmp_path_factory.mktemp("swarm")
    project = Path(
        cookiecutter(str(TEMPLATE), no_input=True, output_dir=str(output), extra_context=answers)
    )
    servers.make_certificate(project, project)
    (project / MAIL_FILE).write_text(  # a relay outside the stack's internal network
        'version: "3.8"\nservices:\n  mailpit:\n    image: axllent/mailpit:v1.20.4\n'
        "    networks: [outside]\n    deploy:\n      endpoint_mode: dnsrr\n"
    )
    return project


@pytest.fixture(scope="module")
def images(swarm, project):
    """Release 1 built from the bake; release 2 a layer on it with a changed stylesheet; a
    broken release whose Gunicorn listens on 8001, where the health check never looks."""
    swarm.run("build", "--quiet", "--tag", f"{IMAGE}:1", str(project))
    releases = {
        "2": "USER root\nRUN echo '/* release 2 */' >> /app/my_flask_app/static/style.css\n"
        "USER 10001:10001\n",
        "broken": "ENV GUNICORN_BIND=0.0.0.0:8001\n",
    }
    for tag, layer in releases.items():
        dockerfile = f"FROM {IMAGE}:1\n{layer}"
        swarm.run("build", "--quiet", "--tag", f"{IMAGE}:{tag}", "-", input=dockerfile)
    return releases


def header_commands(project):
    """The commands compose.swarm.yaml's header runs on a manager, but build, push and the
    exports the test sets itself."""
    lines = (project / "compose.swarm.yaml").read_text().splitlines()
    commands = []
    for line in lines:
        command = line.removeprefix("#   ").split("  #")[0].strip()
        if not line.startswith("#   ") or command.startswith(("docker build", "export", "#")):
            continue
        commands.append(command)
    return commands


class Load:
    """CLIENTS keep-alive HTTPS clients asking nginx for the home page, each at most RATE
    times a second, from start() until stop() (LOAD_SECONDS at most)."""

    def __init__(self, port, certificate):
        self.port, self.context = port, servers.trusting(certificate)
        self.served, self.failed = [0] * CLIENTS, []
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.client, args=(n,)) for n in range(CLIENTS)]

    def client(self, number):
        deadline = time.monotonic() + LOAD_SECONDS
        connection = None
        while not self.stopping.is_set() and time.monotonic() < deadline:
            started = time.monotonic()
            try:
                if connection is None:
                    connection = http.client.HTTPSConnection(
                        "localhost", self.port, context=self.context, timeout=10
                    )
                connection.request("GET", "/")
                response = connection.getresponse()
                response.read()
                if response.status == 200:
                    self.served[number] += 1
                else:
                    self.failed.append(f"HTTP {response.status}")
            except (OSError, http.client.HTTPException) as error:
                self.failed.append(repr(error))
                connection.close()
                connection = None
            time.sleep(max(0, 1 / RATE - (time.monotonic() - started)))
        if connection is not None:
            connection.close()

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=30)

    @property
    def requests(self):
        return sum(self.served) + len(self.failed)


class Stack:
    """The deployed stack, driven with the header's commands in the bake's folder."""

    def __init__(self, swarm, project, env):
        self.swarm, self.project, self.env = swarm, project, env
        *commands, self.deploy_command = header_commands(project)
        self.make_secrets = [c for c in commands if c.startswith("printf")]
        self.setup = [c for c in commands if c not in self.make_secrets]
        assert self.setup == [
            "set -a && . ./.env && set +a",
            f"SITE_VERSION=$(sha256sum nginx/{SLUG}.conf | cut -c1-12) && export SITE_VERSION",
        ]
        assert self.deploy_command == f"docker stack deploy -c compose.swarm.yaml {STACK}"
        self.https_url = f"https://localhost:{env['HTTPS_PORT']}"
        lines = (project / ".env").read_text().splitlines()
        self.env_file = dict(x.split("=", 1) for x in lines if "=" in x and x[:1] != "#")

    def certificate(self):
        return self.project / "certs" / "live" / SLUG / "fullchain.pem"

    def shell(self, *commands, tag):
        """Run commands in one shell in the bake's folder, as a person would, with TAG set."""
        env = {**self.swarm.env, **self.env, "TAG": tag}
        shell = dataclasses.replace(self.swarm, env=env)
        shell.command(["sh", "-c", " && ".join(commands)], self.project)

    def deploy(self, tag, first=False):
        secrets_made = self.make_secrets if first else []
        deploy = f"{self.deploy_command} -c {MAIL_FILE}"  # the stand-in Mailpit beside it
        self.shell(*self.setup, *secrets_made, deploy, tag=tag)

    def service(self, name):
        return f"{STACK}_{name}"

    def update_status(self, service="web"):
        inspect = ("service", "inspect", "--format", "{{json .UpdateStatus}}")
        return json.loads(self.swarm.run(*inspect, self.service(service)).stdout)

    def release(self, tag, service="web"):
        """Deploy the image `tag`; wait until the service's update ends; (its state, seconds)."""
        before = self.update_status(service)
        started = time.monotonic()
        self.deploy(tag)
        ends = ("completed", "paused", "rollback_completed", "rollback_paused")
        while True:
            status = self.update_status(service)
            if status != before and status and status.get("State") in ends:
                return status["State"], time.monotonic() - started
            assert time.monotonic() - started < SETTLE_SECONDS, status
            time.sleep(1)

    def running_images(self):
        """The image of each web task that should be running, and whether it is."""
        tasks = self.swarm.run(
            "service", "ps", "--filter", "desired-state=running",
            "--format", "{{.Image}} {{.CurrentState}}", self.service("web"),
        ).stdout.splitlines()  # fmt: skip
        return sorted(line.split()[:2] for line in tasks)

    def healthy(self, service, count):
        """Whether `count` containers of a service run and pass their health check."""
        label = f"label=com.docker.swarm.service.name={self.service(service)}"
        found = self.swarm.run("ps", "-q", "--filter", label, "--filter", "health=healthy")
        return len(found.stdout.split()) == count

    def running(self, service):
        """The full ids of a service's running containers."""
        label = f"label=com.docker.swarm.service.name={self.service(service)}"
        return self.swarm.run("ps", "-q", "--no-trunc", "--filter", label).stdout.split()

    def bridged(self):
        """The containers with an address on docker_gwbridge, which the node can reach."""
        inspect = ("network", "inspect", "--format", "{{json .Containers}}", "docker_gwbridge")
        return set(json.loads(self.swarm.run(*inspect).stdout))

    def containers(self, service=None):
        label = f"com.docker.stack.namespace={STACK}"
        if service:
            label = f"com.docker.swarm.service.name={self.service(service)}"
        return self.swarm.run("ps", "-aq", "--filter", f"label={label}").stdout.split()

    def nginx_errors(self):
        """nginx's error lines (why a request failed), for a failure's message."""
        logs = self.swarm.run("service", "logs", "--raw", self.service("nginx"), check=False)
        lines = (logs.stdout + logs.stderr).splitlines()
        return "\n".join(line for line in lines if "[error]" in line or "[warn]" in line)

    def remove(self):
        """`docker stack rm`, then what it leaves: the named volumes and every secret it made."""
        self.swarm.run("stack", "rm", STACK, check=False)
        deadline = time.monotonic() + 120
        while self.containers() and time.monotonic() < deadline:
            time.sleep(1)
        for name in ("postgres-data", "redis-data", "backups"):
            while time.monotonic() < deadline:  # a volume is free once its container is gone
                volume = ("volume", "rm", f"{STACK}_{name}")
                if self.swarm.run(*volume, check=False).returncode == 0:
                    break
                time.sleep(1)
        made = self.swarm.run("secret", "ls", "--format", "{{.Name}}").stdout.split()
        for name in {*self.secret_names(), *(n for n in made if n.startswith(f"{STACK}-"))}:
            self.swarm.run("secret", "rm", name, check=False)

    def secret_names(self):
        """The secrets the header's `docker secret create NAME -` commands make (all of them,
        so one the file gains later is removed too)."""
        names = [re.search(r"docker secret create (\S+)", c) for c in self.make_secrets]
        assert all(names), self.make_secrets
        return [name[1] for name in names]

    def leftovers(self):
        label = f"label=com.docker.stack.namespace={STACK}"
        found = [f"container {c}" for c in self.containers()]
        for kind in ("service", "network", "config", "secret", "volume"):
            listed = self.swarm.run(kind, "ls", "-q").stdout.split()
            if kind in ("network", "config", "volume"):
                listed = self.swarm.run(kind, "ls", "-q", "--filter", label).stdout.split()
            found += [f"{kind} {name}" for name in listed]
        return found


def verification_link(stack, address):
    """The link in the mail the stand-in Mailpit received for `address`, from a job worker
    (the web replicas queue mails in Redis)."""
    (mailpit,) = stack.containers("mailpit")
    return containers.mailpit_verification_link(
        lambda code: stack.swarm.run("exec", mailpit, "python3", "-c", code).stdout, address
    )


def https_status(url, certificate, path="/readyz"):
    with contextlib.suppress(OSError):
        return Browser(url, servers.trusting(certificate)).request(path).status


def restore_drill(stack):
    """An account and an API token; a backup by the `backup` service; the database dropped and
    made again empty; the restore command docs/backups.md gives; the same password and the
    same token work through nginx."""
    from test_backups_e2e import CREATE_ACCOUNT
    from test_docker import DRILL_PASSWORD, api_call

    def run(service, *command):
        label = f"label=com.docker.swarm.service.name={stack.service(service)}"
        (container, *_) = stack.swarm.run("ps", "-q", "--filter", label).stdout.split()
        return stack.swarm.run("exec", container, *command).stdout

    create = CREATE_ACCOUNT.replace('"ada"', '"grace"').replace("ada@", "grace@")
    token = run("web", "python", "-c", create, DRILL_PASSWORD).split()[-1]
    assert re.search(r"Z-\w+\.dump", run("backup", "sh", "/pg-backup.sh", "list"))
    file = run("backup", "sh", "/pg-backup.sh", "now").split()[-1]
    user, database = (stack.env_file[name] for name in ("POSTGRES_USER", "POSTGRES_DB"))
    psql = ("psql", "-U", user, "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c")
    run("db", *psql, f'DROP DATABASE "{database}" WITH (FORCE)')
    run("db", *psql, f'CREATE DATABASE "{database}"')
    assert "restored" in run("backup", "sh", "/pg-backup.sh", "restore", file)
    me = api_call(stack, "/api/users/me", token=token)
    new = api_call(stack, "/api/tokens", {"username": "grace", "password": DRILL_PASSWORD})
    assert me[0] == 200 and me[1]["username"] == "grace"
    assert new[0] == 201 and new[1]["token"]


# The test --------------------------------------------------------------------------------


def swarm_reload_command(project):
    """docs/certificates.md's deploy hook for Swarm: reload each nginx task on this node."""
    docs = (project / "docs" / "certificates.md").read_text()
    (command,) = re.findall(r"ACME_RELOAD='(docker ps [^']*)'", docs)
    return command


def test_deploy_sign_up_update_and_roll_back_without_a_failed_request(
    swarm, project, images, tmp_path
):
    ports = {"HTTP_PORT": str(servers.free_port()), "HTTPS_PORT": str(servers.free_port())}
    env = {
        **ports,
        "IMAGE": IMAGE,
        "BASE_URL": f"https://localhost:{ports['HTTPS_PORT']}",
        "MAIL_SERVER": "mailpit",
        "MAIL_PORT": "1025",
        "MAIL_DEFAULT_SENDER": "app@example.com",
    }
    stack = Stack(swarm, project, env)
    certificate = project / "certs" / "live" / SLUG / "fullchain.pem"
    report = {}
    try:
        # Deploy: HTTPS through nginx once a replica is ready, then all three.
        started = time.monotonic()
        stack.deploy("1", first=True)
        while https_status(stack.https_url, certificate) != 200:
            assert time.monotonic() - started < SETTLE_SECONDS, swarm.run("service", "ls").stdout
            time.sleep(1)
        report["deploy to HTTPS"] = time.monotonic() - started
        while stack.running_images() != [[f"{IMAGE}:1", "Running"]] * 3:
            assert time.monotonic() - started < SETTLE_SECONDS, stack.running_images()
            time.sleep(1)
        report["deploy to 3 replicas"] = time.monotonic() - started
        while not stack.healthy("worker", 2):  # their health check: a heartbeat in Redis
            assert time.monotonic() - started < SETTLE_SECONDS, swarm.run("service", "ls").stdout
            time.sleep(1)
        # Gunicorn, PostgreSQL and Redis are on the stack's internal network only: no address
        # on docker_gwbridge, through which a process on the node would reach them. nginx (its
        # ports) and the job workers (the mail relay) have one.
        bridged = stack.bridged()
        for service in ("web", "db", "redis"):
            assert not bridged & set(stack.running(service)), service
        for service in ("nginx", "worker"):
            assert bridged & set(stack.running(service)), service
        # Only this machine can reach the published ports.
        https, http = (int(ports[name]) for name in ("HTTPS_PORT", "HTTP_PORT"))
        assert tcp_listeners(https) == tcp_listeners(http) == ["0100007F"]

        # A visitor signs up, verifies the address from the mail, and logs in, over HTTPS.
        browser = Browser(stack.https_url, servers.trusting(certificate))
        password = secrets.token_urlsafe(12)
        fields = {"username": "ada", "email": "ada@example.com", "password": password}
        assert browser.submit("/auth/register", **fields, confirm=password).status == 302
        link = verification_link(stack, "ada@example.com")
        assert link.startswith(f"{stack.https_url}/auth/verify/")
        assert browser.request(link.removeprefix(stack.https_url)).status == 302
        assert browser.submit("/auth/login", username="ada", password=password).status == 302
        assert signed_in_as(browser.request("/")) == "ada"
        # nginx has no copy of the static files here: the app sends them.
        css = browser.request("/static/style.css")
        assert css.text == (project / SLUG / "static" / "style.css").read_text()

        # Release 2, replica by replica, under load, with a new mail password: a numbered
        # secret, as docs/swarm.md rotates one; the old one is then in use no more.
        new_password = secrets.token_urlsafe(12)
        rotate = f"printf %s {new_password} | docker secret create {STACK}-mail-password-2 -"
        stack.shell(rotate, tag="2")
        stack.env["MAIL_PASSWORD_VERSION"] = "2"
        with Load(https, certificate) as update:
            state, seconds = stack.release("2")
        assert state == "completed"
        assert stack.running_images() == [[f"{IMAGE}:2", "Running"]] * 3
        label = f"label=com.docker.swarm.service.name={stack.service('web')}"
        for container in swarm.run("ps", "-q", "--filter", label).stdout.split():
            read = swarm.run("exec", container, "cat", "/run/secrets/MAIL_PASSWORD")
            assert read.stdout == new_password
        swarm.run("secret", "rm", f"{STACK}-mail-password-1")  # refused while a task uses it
        assert update.failed == [] and update.requests > 0, stack.nginx_errors()
        assert browser.request("/static/style.css").text.endswith("/* release 2 */\n")
        report["update"] = (seconds, update.requests, len(update.failed))

        # A broken release never becomes healthy: Swarm rolls back to release 2 by itself.
        with Load(https, certificate) as rollback:
            state, seconds = stack.release("broken")
        assert state == "rollback_completed"
        assert stack.running_images() == [[f"{IMAGE}:2", "Running"]] * 3
        assert rollback.failed == [] and rollback.requests > 0, stack.nginx_errors()
        assert signed_in_as(browser.request("/")) == "ada"  # the same session, still valid
        report["update to a broken image, rolled back"] = (
            seconds,
            rollback.requests,
            len(rollback.failed),
        )

        # Backups (docs/backups.md): the restore drill with the `backup` service.
        started = time.monotonic()
        restore_drill(stack)
        report["restore drill"] = time.monotonic() - started

        # A certificate from an ACME server (Pebble on loopback) with docs/certificates.md's
        # Swarm commands, through the stack's nginx; then its renewal under load, which reloads
        # nginx in place: no request fails.
        started = time.monotonic()
        settings = {
            "CERTBOT_DIR": "certs",
            "ACME_WEBROOT": "certs/www",
            "ACME_RELOAD": swarm_reload_command(project),
        }
        with servers.pebble(http) as pebble:
            certbot = Certbot(project, pebble, tmp_path, settings, swarm.env)
            acme = issue_serve_and_renew_under_load(certbot, https)
            trusting_pebble = certbot.trusting_pebble()  # its root, while Pebble runs
        report["certificate issued, renewed under load"] = (
            time.monotonic() - started,
            sum(acme.served),
            len(acme.failed),
        )

        # An edited site: a new config named by its hash, swapped in by the same deploy, no
        # `docker stack rm`. nginx is replaced (stop-first: its ports allow no other way),
        # which one node cannot hide (docs/swarm.md): the refused requests are counted.
        site = project / "nginx" / f"{SLUG}.conf"
        site.write_text(site.read_text() + "# edited\n")
        digest = hashlib.sha256(site.read_bytes()).hexdigest()[:12]
        served = first_certificate(certbot.live / "fullchain.pem")
        with RetryingLoad(https, trusting_pebble) as edit:
            state, seconds = stack.release("2", service="nginx")
            # The new nginx serves, with the certificate from certs/ on the node.
            assert served_once_reloaded(https, trusting_pebble, served) == served
        assert state == "completed"
        configs = "{{range .Spec.TaskTemplate.ContainerSpec.Configs}}{{.ConfigName}}{{end}}"
        inspect = ("service", "inspect", "--format", configs, stack.service("nginx"))
        assert swarm.run(*inspect).stdout.strip() == f"{STACK}-site-{digest}"
        assert sum(edit.served) > 0
        report["site edited, nginx replaced"] = (seconds, sum(edit.served), len(edit.failed))
    finally:
        stack.remove()
        print(f"\nswarm: {report}")
    assert stack.leftovers() == []
