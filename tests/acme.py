"""What the ACME tests share (tests/test_acme.py on the systemd path, the Compose production
stack in tests/test_docker.py, the Swarm stack in tests/test_swarm.py): the baked
deploy/certificate.sh and certbot run against Pebble on loopback, the certificate a site
serves, and a bounded HTTPS load that counts the requests a reload fails.
"""

import http.client
import socket
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import servers

# The load across a renewal's reload: keep-alive HTTPS clients, each at most RATE requests a
# second, for at most LOAD_SECONDS.
CLIENTS, RATE, LOAD_SECONDS = 4, 50, 120
# What a client sees when the server closed an idle keep-alive connection as it sent a request.
CLOSED_WHILE_IDLE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)
# A reload returns before nginx has it: how long its new workers may take to serve a certificate.
RELOAD_SECONDS = 30
SETTLED_SECONDS = 1  # ... and how long every connection must get it before the old ones are gone


def served_certificate(port, context):
    """The certificate (DER) the site on 127.0.0.1:port serves to a client that trusts
    `context`'s roots."""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        return tls.getpeercert(binary_form=True)


def served_once_reloaded(port, context, expected):
    """The certificate (DER) the site serves once it has served `expected` on every connection
    for SETTLED_SECONDS, or after RELOAD_SECONDS what it serves then (an SSL error for a
    certificate `context` does not trust).

    A reload (SIGHUP, what `nginx -s reload` and `systemctl reload nginx` send) returns at
    once: nginx's master then reads the files and starts new workers, while the old ones still
    accept connections with the old certificate until they have handled the master's signal to
    quit. A busy machine stretches both past certbot's exit, so one connection with the new
    certificate does not yet say that no worker serves the old one (2 of 4 clients that
    connected just after it did once got the old one).
    """
    deadline = time.monotonic() + RELOAD_SECONDS
    settled = None  # since when every connection got `expected`
    while True:
        try:
            served = served_certificate(port, context)
        except (ssl.SSLError, OSError) as error:  # an untrusted certificate, a moment's refusal
            served = error
        now = time.monotonic()
        settled = (settled or now) if served == expected else None
        if (settled and now - settled >= SETTLED_SECONDS) or now > deadline:
            return served
        time.sleep(0.05)


def first_certificate(path):
    """The first certificate (DER) of a PEM file: a full chain's own certificate."""
    pem = Path(path).read_text()
    return ssl.PEM_cert_to_DER_cert(pem[: pem.index("-----END CERTIFICATE-----") + 25])


class Load:
    """CLIENTS keep-alive HTTPS clients asking the site for `path`, each at most RATE times a
    second, from start until stop (LOAD_SECONDS at most), trusting only `context`.

    A reload closes the old workers' idle keep-alive connections: a request sent on one just
    then finds it closed without an answer. HTTP lets a client send such a request again on a
    new connection (RFC 9112, 9.3.1), and browsers do: so does this client, once, and counts it
    in `retried`. A request that fails on a new connection, or twice, is in `failed`.
    """

    def __init__(self, port, context, path="/healthz"):
        self.port, self.context, self.path = port, context, path
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
                time.sleep(max(0, 1 / RATE - (time.monotonic() - started)))  # at RATE still
                continue
            used = True
            if status == 200:
                self.served[number] += 1
            else:
                self.failed.append(f"HTTP {status}")
            time.sleep(max(0, 1 / RATE - (time.monotonic() - started)))
        connection.close()

    def ask(self, connection):
        connection.request("GET", self.path)
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

    def check(self):
        """No failed request, enough answered, at most one resent request a client."""
        assert self.failed == [], self.failed
        assert sum(self.served) > CLIENTS * 10, self.served
        assert len(self.retried) <= CLIENTS  # at most one closed idle connection each


@dataclass
class Certbot:
    """deploy/certificate.sh and certbot for one site, against one Pebble.

    `folder` holds certbot's cli.ini (under XDG_CONFIG_HOME, naming its work and log folders,
    as a user's may); `settings` are the script's (CERTBOT_DIR, ACME_WEBROOT, ACME_RELOAD);
    `env` is the rest of the environment (DOCKER_HOST for a reload through Docker).
    """

    project: Path
    pebble: servers.Pebble
    folder: Path
    settings: dict
    env: dict = field(default_factory=dict)
    logs_of: tuple = ()  # (name, path) of more logs to show on failure

    def __post_init__(self):
        cli = self.folder / "xdg" / "letsencrypt" / "cli.ini"
        cli.parent.mkdir(parents=True, exist_ok=True)
        cli.write_text(f"work-dir = {self.folder / 'work'}\nlogs-dir = {self.folder / 'logs'}\n")
        self.env = {
            **self.env,
            "XDG_CONFIG_HOME": str(cli.parent.parent),
            "REQUESTS_CA_BUNDLE": str(self.pebble.certificate),  # Pebble's own HTTPS
            "ACME_SERVER": self.pebble.directory,
            **self.settings,
        }

    @property
    def live(self):
        return self.project / self.settings["CERTBOT_DIR"] / "live" / self.project.name

    def trusting_pebble(self):
        """A client context that trusts Pebble's root and nothing else."""
        return ssl.create_default_context(cadata=self.pebble.root())

    def logs(self, *runs):
        """What explains a failure: the runs' output, certbot's log, Pebble's and others'."""
        parts = [f"----- {' '.join(run.args)} ({run.returncode}) -----\n{run.stdout}{run.stderr}"
                 for run in runs]  # fmt: skip
        for name, path in (
            ("certbot", self.folder / "logs" / "letsencrypt.log"),
            ("pebble", self.pebble.log_path),
            *self.logs_of,
        ):
            parts.append(f"----- {name} log -----\n{servers.read(path)[-20000:]}")
        return "\n".join(parts)

    def run(self, command):
        """Run a command in the project folder (the settings' folders may be relative to it)."""
        done = subprocess.run(
            command, env=self.env, cwd=self.project, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, self.logs(done)
        return done

    def script(self, *names):
        """deploy/certificate.sh NAMES, in the project folder, as the docs run it."""
        script = self.project / "deploy" / "certificate.sh"
        return self.run([str(script), *names])

    def renew(self):
        """The renewal certbot's timer runs, forced (Pebble's certificates last years), with no
        random wait (certbot adds up to 8 min when a timer, not a person, runs it)."""
        config = ["--config-dir", self.settings["CERTBOT_DIR"]]
        return self.run(
            ["certbot", "renew", "--force-renewal", "--no-random-sleep-on-renew", *config]
        )


def issue_serve_and_renew_under_load(certbot, port, path="/healthz"):
    """The whole ACME path on a running site whose HTTPS is 127.0.0.1:port: the script's
    certificate replaces the trial one and is served; a forced renewal under load is served
    too, and no request fails. Returns the load, for a report."""
    live = certbot.live
    trial = first_certificate(live / "fullchain.pem")
    done = certbot.script("localhost")
    issued = first_certificate(live / "fullchain.pem")
    assert issued != trial, certbot.logs(done)
    acme = certbot.trusting_pebble()
    assert served_once_reloaded(port, acme, issued) == issued, certbot.logs(done)
    renewal = (live.parent.parent / "renewal" / f"{certbot.project.name}.conf").read_text()
    assert f"server = {certbot.pebble.directory}" in renewal
    assert f"renew_hook = {certbot.settings['ACME_RELOAD']}" in renewal  # the deploy hook
    assert "authenticator = webroot" in renewal

    with Load(port, acme, path) as load:
        time.sleep(2)
        renewing = certbot.renew()
        renewed = first_certificate(live / "fullchain.pem")
        served = served_once_reloaded(port, acme, renewed)
        time.sleep(3)  # the old workers finish; the new ones serve
    assert renewed not in (issued, trial), certbot.logs(renewing)
    assert served == renewed, certbot.logs(renewing)
    load.check()
    return load
