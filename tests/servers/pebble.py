"""Pebble, Let's Encrypt's test ACME server (Debian's `pebble`), on loopback.

It checks each name as Let's Encrypt does (http-01: a GET of /.well-known/acme-challenge/<token>
on port 80 of the name's address), with the port set to the site's HTTP port, and the name's
address from the system resolver (`localhost` is 127.0.0.1 in /etc/hosts). Its own HTTPS
certificate is made here; ACME clients trust it through REQUESTS_CA_BUNDLE. Each start makes a
new root, which `root()` fetches: a client that trusts it trusts what Pebble issued.
"""

import contextlib
import json
import shutil
import ssl
import subprocess
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .process import (
    Server,
    accepts_connections,
    free_port,
    need,
    show_log_on_failure,
    wait_until,
)


@dataclass
class Pebble(Server):
    management_port: int = 0
    certificate: Path = None  # Pebble's own HTTPS certificate, for ACME clients to trust

    @property
    def directory(self):
        """The ACME directory URL, what certbot's --server takes."""
        return f"https://127.0.0.1:{self.port}/dir"

    def root(self):
        """The root certificate (PEM) of the certificates this Pebble issues."""
        context = ssl.create_default_context(cafile=str(self.certificate))
        url = f"https://127.0.0.1:{self.management_port}/roots/0"
        with urllib.request.urlopen(url, context=context, timeout=10) as answer:
            return answer.read().decode()


@contextlib.contextmanager
def pebble(http_port):
    """Pebble on 127.0.0.1:<free ports>, validating http-01 on `http_port`."""
    program = need("pebble")
    folder = Path(tempfile.mkdtemp(prefix="e2e-pebble-"))
    try:
        cert, key = folder / "cert.pem", folder / "key.pem"
        subprocess.run(
            [need("openssl"), "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj", "/CN=pebble",
             "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
             "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        port, management_port = free_port(), free_port()
        config = {
            "pebble": {
                "listenAddress": f"127.0.0.1:{port}",
                "managementListenAddress": f"127.0.0.1:{management_port}",
                "certificate": str(cert),
                "privateKey": str(key),
                "httpPort": http_port,
                "tlsPort": free_port(),  # tls-alpn-01: unused, but nothing may hold it
                "ocspResponderURL": "",
                "externalAccountBindingRequired": False,
            }
        }
        (folder / "config.json").write_text(json.dumps(config))
        env = {
            "PEBBLE_VA_NOSLEEP": "1",  # no random wait before each check
            "PEBBLE_WFE_NONCEREJECT": "0",  # no nonces refused at random
        }
        log = folder / "pebble.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [program, "-config", str(folder / "config.json")],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=folder,
            )
        server = Pebble(process, port, log, management_port, cert)
        try:
            with show_log_on_failure("pebble", log):
                for listening in (port, management_port):
                    wait_until(lambda p=listening: accepts_connections(p), "pebble", process, log)
                yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
