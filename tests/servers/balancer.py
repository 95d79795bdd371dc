"""A load balancer in front of the baked nginx site, played by a second, minimal nginx.

It does what a cloud or on-premises balancer in front of an HTTPS-only site does: ends the
visitors' TLS with the site's certificate, opens a new TLS connection to the site (by its
name, localhost, which the site's certificate and server_name carry), passes the Host on,
appends the address the connection came from to X-Forwarded-For and says https in
X-Forwarded-Proto. The baked nginx then sees every visitor arrive from the balancer's
address (127.0.0.1 here).
"""

import contextlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .nginx import trusting
from .process import (
    SBIN,
    Server,
    accepts_connections,
    free_port,
    need,
    show_log_on_failure,
    wait_until,
)


def balancer_config(folder, port, site_port, certificate):
    """A whole nginx.conf: TLS on 127.0.0.1:port with `certificate` (and the privkey.pem
    beside it), proxying everything over TLS to the site at https://localhost:site_port,
    whose certificate it checks against the same file."""
    user = "user root root;\n" if os.geteuid() == 0 else ""
    temp = "\n".join(
        f"    {kind}_temp_path {folder}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    key = Path(certificate).parent / "privkey.pem"
    return f"""{user}worker_processes 1;
daemon off;
pid {folder}/nginx.pid;
error_log {folder}/error.log;
events {{ worker_connections 256; }}
http {{
    access_log {folder}/access.log;
{temp}
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {certificate};
        ssl_certificate_key {key};
        location / {{
            proxy_pass https://localhost:{site_port};
            # The site answers only its name, and refuses a handshake without it (SNI).
            proxy_ssl_server_name on;
            proxy_ssl_name localhost;
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate {certificate};
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}
    }}
}}
"""


@dataclass
class Balancer(Server):
    """The balancer serving HTTPS on `port` with the site's `certificate`."""

    certificate: Path = None

    @property
    def url(self):
        return f"https://localhost:{self.port}"

    def ssl_context(self):
        return trusting(self.certificate)


@contextlib.contextmanager
def balancer(site):
    """The balancer on 127.0.0.1:<free port>, forwarding to `site` (a servers.Nginx)."""
    executable = need("nginx", *SBIN)
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="e2e-balancer-"))
    conf = folder / "nginx.conf"
    conf.write_text(balancer_config(folder, port, site.port, site.certificate))
    log = folder / "error.log"
    command = [executable, "-p", str(folder), "-e", str(log), "-c", str(conf)]
    with open(folder / "stdout.log", "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    server = Balancer(process, port, log, site.certificate)
    try:
        with show_log_on_failure("balancer", log):
            wait_until(lambda: accepts_connections(port), "balancer", process, log)
            yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
