"""ACME on the systemd + nginx path, against Pebble (Let's Encrypt's test server) on loopback.

As docs/certificates.md tells a person: the site runs with the trial self-signed certificate,
deploy/certificate.sh gets a certificate for its name through the running nginx (http-01 from
the site's webroot on port 80, which Pebble checks), and nginx serves it; then a renewal, as
certbot's timer runs it (`certbot renew`, forced: Pebble's certificates last years), reloads
nginx through the saved deploy hook while clients keep asking: none of them may fail.
Everything runs on 127.0.0.1; certbot's folders are temporary ones (its cli.ini under
XDG_CONFIG_HOME names the work and log folders, as a user's may).
"""

import contextlib
import http.client
import secrets
import socket
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

import servers
from conftest import clean_env

pytestmark = pytest.mark.e2e

SLUG = "my_flask_app"
# The load across the renewal's reload: keep-alive HTTPS clients, each at most RATE requests a
# second, for at most LOAD_SECONDS.
CLIENTS, RATE, LOAD_SECONDS = 4, 50, 120
# What a client sees when the server closed an idle keep-alive connection as it sent a request.
CLOSED_WHILE_IDLE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)
# A reload returns before nginx has it: how long its new workers may take to serve a certificate.
RELOAD_SECONDS = 30


@dataclass
class Site:
    project: Path
    nginx: servers.Nginx
    pebble: servers.Pebble
    env: dict  # certbot's and the script's environment
    certbot_logs: Path  # certbot's logs-dir (letsencrypt.log), named in its cli.ini

    def logs(self, *runs):
        """What explains a failure: the runs' output, certbot's log, nginx's and Pebble's."""
        parts = [f"----- {' '.join(run.args)} ({run.returncode}) -----\n{run.stdout}{run.stderr}"
                 for run in runs]  # fmt: skip
        for name, path in (
            ("certbot", self.certbot_logs / "letsencrypt.log"),
            ("nginx", self.nginx.log_path),
            ("pebble", self.pebble.log_path),
        ):
            parts.append(f"----- {name} log -----\n{servers.read(path)[-20000:]}")
        return "\n".join(parts)


@pytest.fixture(scope="module")
def site(bake_once, baked_python, tmp_path_factory):
    servers.need("nginx", *servers.SBIN)
    servers.need("certbot")
    project = bake_once(use_nginx=True)
    home = tmp_path_factory.mktemp("certbot")
    cli = home / "xdg" / "letsencrypt" / "cli.ini"
    cli.parent.mkdir(parents=True)
    cli.write_text(f"work-dir = {home / 'work'}\nlogs-dir = {home / 'logs'}\n")
    with contextlib.ExitStack() as stack:
        env = clean_env(SECRET_KEY=secrets.token_hex(32), DATABASE_URL="sqlite://")
        app = stack.enter_context(servers.gunicorn(project, baked_python, env, workers=1))
        nginx = stack.enter_context(servers.nginx(project, [app.address]))
        pebble = stack.enter_context(servers.pebble(nginx.http_port))
        env = clean_env(
            XDG_CONFIG_HOME=str(cli.parent.parent),
            REQUESTS_CA_BUNDLE=str(pebble.certificate),  # Pebble's own HTTPS, for certbot
            # The script's settings: the ACME server and where this nginx keeps its files.
            ACME_SERVER=pebble.directory,
            CERTBOT_DIR=str(nginx.certificates),
            ACME_WEBROOT=str(nginx.webroot),
            ACME_RELOAD=f"kill -HUP {nginx.process.pid}",  # what `nginx -s reload` sends
        )
        yield Site(project, nginx, pebble, env, home / "logs")


def served_certificate(nginx, context):
    """The certificate (DER) the site serves to a client that trusts `context`'s roots."""
    with (
        socket.create_connection(("127.0.0.1", nginx.port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        return tls.getpeercert(binary_form=True)


def served_once_reloaded(nginx, context, expected):
    """The certificate (DER) the site serves once it serves `expected`, or after RELOAD_SECONDS
    what it serves then (an SSL error for a certificate `context` does not trust).

    The deploy hook's reload (SIGHUP, what `nginx -s reload` and `systemctl reload nginx`
    send) returns at once: nginx's master then reads the files and starts new workers, while
    the old ones still accept connections with the old certificate. A busy machine (another
    suite beside this one) stretches that past certbot's exit.
    """
    deadline = time.monotonic() + RELOAD_SECONDS
    while True:
        try:
            served = served_certificate(nginx, context)
        except ssl.SSLError as error:  # the trial certificate, which `context` does not trust
            served = error
        if served == expected or time.monotonic() > deadline:
            return served
        time.sleep(0.1)


def first_certificate(path):
    """The first certificate (DER) of a PEM file: a full chain's own certificate."""
    pem = Path(path).read_text()
    return ssl.PEM_cert_to_DER_cert(pem[: pem.index("-----END CERTIFICATE-----") + 25])


class Load:
    """CLIENTS keep-alive HTTPS clients asking the site for /healthz, each at most RATE times a
    second, from start until stop (LOAD_SECONDS at most), trusting only `context`.

    A reload closes the old workers' idle keep-alive connections: a request sent on one just
    then finds it closed without an answer. HTTP lets a client send such a request again on a
    new connection (RFC 9112, 9.3.1), and browsers do: so does this client, once, and counts it
    in `retried`. A request that fails on a new connection, or twice, is in `failed`.
    """

    def __init__(self, port, context):
        self.port, self.context = port, context
        self.served, self.failed, self.retried = [0] * CLIENTS, [], []
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.client, args=(n,)) for n in range(CLIENTS)]

    def connect(self):
        context, port = self.context, self.port
        return http.client.HTTPSConnection("localhost", port, context=context, timeout=10)

    def client(self, number):
        deadline = time.monotonic() + LOAD_SECONDS
        connection, used = self.connect(), False
        while not self.stopping.is_set() and time.monotonic() < deadline:
            started = time.monotonic()
            try:
                status = self.ask(connection)
            except CLOSED_WHILE_IDLE as error:
                connection.close()
                connection = self.connect()
                if not used:
                    self.failed.append(repr(error))
                    continue
                self.retried.append(repr(error))
                try:
                    status = self.ask(connection)
                except (OSError, http.client.HTTPException) as again:
                    self.failed.append(repr(again))
                    connection.close()
                    connection, used = self.connect(), False
                    continue
            except (OSError, http.client.HTTPException) as error:
                self.failed.append(repr(error))
                connection.close()
                connection, used = self.connect(), False
                continue
            used = True
            if status == 200:
                self.served[number] += 1
            else:
                self.failed.append(f"HTTP {status}")
            time.sleep(max(0, 1 / RATE - (time.monotonic() - started)))
        connection.close()

    @staticmethod
    def ask(connection):
        connection.request("GET", "/healthz")
        response = connection.getresponse()
        response.read()
        return response.status

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=30)


def certbot(site, *args):
    done = subprocess.run(
        ["certbot", *args, "--config-dir", site.env["CERTBOT_DIR"]],
        env=site.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, site.logs(done)
    return done


def test_certificate_is_issued_served_and_renewed_without_a_failed_request(site):
    nginx, live = site.nginx, site.nginx.certificates / "live" / SLUG
    trial = first_certificate(live / "fullchain.pem")  # the README's self-signed one
    script = site.project / "deploy" / "certificate.sh"
    done = subprocess.run(
        [str(script), "localhost"], env=site.env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, site.logs(done)

    # Served once nginx has reloaded, signed by Pebble's root: a client that trusts that root
    # and nothing else.
    issued = first_certificate(live / "fullchain.pem")
    assert issued != trial, site.logs(done)
    acme = ssl.create_default_context(cadata=site.pebble.root())
    served = served_once_reloaded(nginx, acme, issued)
    assert served == issued, site.logs(done)
    renewal = (nginx.certificates / "renewal" / f"{SLUG}.conf").read_text()
    assert f"server = {site.pebble.directory}" in renewal
    assert f"renew_hook = kill -HUP {nginx.process.pid}" in renewal  # the deploy hook
    assert "authenticator = webroot" in renewal

    # The renewal certbot's timer runs, forced, under load: the reload drops no request.
    with Load(nginx.port, acme) as load:
        time.sleep(2)
        # No random wait: certbot adds up to 8 min when run by a timer, not a person.
        renewing = certbot(site, "renew", "--force-renewal", "--no-random-sleep-on-renew")
        renewed = first_certificate(live / "fullchain.pem")
        served = served_once_reloaded(nginx, acme, renewed)
        time.sleep(3)  # the old workers finish; the new ones serve
    assert renewed not in (issued, trial), site.logs(renewing)
    assert served == renewed, site.logs(renewing)
    assert load.failed == []
    assert sum(load.served) > CLIENTS * 10, load.served
    assert len(load.retried) <= CLIENTS  # at most one closed idle connection each
    print(f"renewal under load: {sum(load.served)} served, 0 failed, {len(load.retried)} resent")


def test_the_check_is_answered_on_port_80_and_everything_else_redirected(site):
    token = secrets.token_urlsafe(16)
    challenge = site.nginx.webroot / ".well-known" / "acme-challenge"
    challenge.mkdir(parents=True, exist_ok=True)
    (challenge / token).write_text("proof")
    connection = http.client.HTTPConnection("localhost", site.nginx.http_port, timeout=10)
    try:
        connection.request("GET", f"/.well-known/acme-challenge/{token}")
        answer = connection.getresponse()
        assert (answer.status, answer.read()) == (200, b"proof")
        assert answer.headers["Content-Type"] == "text/plain"
        connection.request("GET", "/auth/login")
        answer = connection.getresponse()
        answer.read()
        location = f"https://localhost:{site.nginx.port}/auth/login"  # the custom port kept
        assert (answer.status, answer.headers["Location"]) == (301, location)
    finally:
        connection.close()
        (challenge / token).unlink()
