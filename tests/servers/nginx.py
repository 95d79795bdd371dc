"""nginx with the baked site, its addresses and paths swapped for loopback ones.

The site serves HTTPS with a certificate made by the baked README's own openssl command, and
clients trust that certificate (Nginx.ssl_context), as a person trying the site would.
"""

import contextlib
import os
import re
import shutil
import ssl
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .process import (
    SBIN,
    Server,
    accepts_connections,
    free_port,
    need,
    show_log_on_failure,
    wait_until,
)

# The baked site names these; a test swaps them for loopback addresses and its own paths.
BAKED_UPSTREAM = re.compile(r"\bweb:8000;")
BAKED_LISTEN = re.compile(r"\blisten\s+80\b")
BAKED_LISTEN_TLS = re.compile(r"\blisten\s+443\b")
# The map that names the public HTTPS port for the redirect: a user with another port sets it.
BAKED_HTTPS_PORT = re.compile(r"(_https_port \{\s*default )\"\";")
UPSTREAM_GROUP = "e2e_app"  # a variable proxy_pass looks for this group before asking DNS


def readme_certificate_command(project):
    """The deployment guide's one command that makes a self-signed certificate for a trial."""
    guide = (project / "docs" / "deployment.md").read_text()
    lines = [line for line in guide.splitlines() if "openssl req " in line]
    if len(lines) != 1:
        raise AssertionError(f"docs/deployment.md has {len(lines)} openssl commands, not one")
    return lines[0].strip()


def make_certificate(project, folder):
    """Run the README's openssl command in `folder`; returns the certbot-style folder (the
    one holding live/<slug>/) that the site's certificate paths point into."""
    command = readme_certificate_command(project)
    subprocess.run(["sh", "-c", command], cwd=folder, check=True, capture_output=True, timeout=60)
    (certificate,) = Path(folder).rglob("fullchain.pem")
    return certificate.parent.parent.parent


def site_config(project, port, upstreams, http_port, certificates):
    """The baked site with only addresses and paths changed for a loopback run.

    `listen 443` becomes 127.0.0.1:port and `listen 80` 127.0.0.1:http_port (the redirect
    names `port`, set in the site's map as a user with another public port would), the app's
    `web:8000` becomes an upstream group of `upstreams`,
    /etc/letsencrypt becomes `certificates` and /srv/<slug> (where the site expects the
    project) the baked project's folder. Raises if the site no longer has what is replaced.
    """
    slug = project.name
    text = (project / "nginx" / f"{slug}.conf").read_text()
    for pattern in (BAKED_UPSTREAM, BAKED_LISTEN, BAKED_LISTEN_TLS, BAKED_HTTPS_PORT):
        if not pattern.search(text):
            raise AssertionError(f"the baked nginx site has no {pattern.pattern!r}")
    group = "".join(f"    server {address};\n" for address in upstreams)
    text = BAKED_UPSTREAM.sub(f"{UPSTREAM_GROUP};", text)
    text = f"upstream {UPSTREAM_GROUP} {{\n{group}}}\n{text}"
    text = BAKED_LISTEN.sub(f"listen 127.0.0.1:{http_port}", text)
    text = BAKED_LISTEN_TLS.sub(f"listen 127.0.0.1:{port}", text)
    text = BAKED_HTTPS_PORT.sub(f'\\g<1>":{port}";', text)
    text = text.replace("/etc/letsencrypt", str(certificates))
    return text.replace(f"/srv/{slug}", str(project.resolve()))


def main_config(folder, site):
    """A minimal nginx.conf that keeps every file in `folder` and includes the site file."""
    user = "user root root;\n" if os.geteuid() == 0 else ""  # workers must read pytest's tmp
    temp = "\n".join(
        f"    {kind}_temp_path {folder}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""{user}worker_processes 1;
daemon off;
pid {folder}/nginx.pid;
error_log {folder}/error.log;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {folder}/access.log;
{temp}
    include {site};
}}
"""


def write_nginx_files(project, folder, port, upstreams, http_port=None):
    """Write a certificate, the loopback site and its nginx.conf into `folder`; returns the
    nginx.conf path."""
    folder = Path(folder)
    certificates = make_certificate(project, folder)
    site = folder / "site.conf"
    # The site logs to /var/log/nginx/access.log: here, to site-access.log in `folder`; it
    # serves ACME checks from /var/www/certbot: here, from www/ in `folder` (Nginx.webroot).
    text = site_config(project, port, upstreams, http_port or free_port(), certificates)
    text = text.replace("/var/www/certbot", f"{folder}/www")
    site.write_text(text.replace("/var/log/nginx/", f"{folder}/site-"))
    conf = folder / "nginx.conf"
    conf.write_text(main_config(folder, site))
    return conf


def nginx_command(conf):
    """The nginx command line for a config written by write_nginx_files (add -t to check)."""
    folder = Path(conf).parent
    return [
        need("nginx", *SBIN),
        "-p",
        str(folder),
        "-e",
        str(folder / "error.log"),
        "-c",
        str(conf),
    ]


def certificate_of(conf):
    """The certificate file the site of a written nginx.conf serves."""
    (certificate,) = Path(conf).parent.rglob("fullchain.pem")
    return certificate


def trusting(certificate):
    """An SSL context that trusts `certificate` (and nothing else), as a person who added it
    to their trust store would."""
    return ssl.create_default_context(cafile=str(certificate))


@dataclass
class Nginx(Server):
    """nginx serving the site over HTTPS on `port` and redirecting from `http_port`."""

    http_port: int = 0
    certificate: Path = None

    # By name: TLS clients send no server name (SNI) for an address, and the site refuses
    # a handshake without one, as it refuses any name it does not serve.
    @property
    def url(self):
        return f"https://localhost:{self.port}"

    @property
    def http_url(self):
        return f"http://localhost:{self.http_port}"

    @property
    def webroot(self):
        """Where the site serves /.well-known/acme-challenge/ from (certbot --webroot-path)."""
        return Path(self.log_path).parent / "www"

    @property
    def certificates(self):
        """The folder the site reads live/<slug>/ from (certbot's --config-dir)."""
        return Path(self.certificate).parent.parent.parent

    def ssl_context(self):
        return trusting(self.certificate)


@contextlib.contextmanager
def nginx(project, upstreams, port=None):
    """nginx with the baked site config on 127.0.0.1:<free ports>, proxying to `upstreams`.

    `upstreams` are host:port addresses (Server.address). The site answers the host name
    localhost (Nginx.url, HTTPS); its default server drops the others. Pass `port` (from
    free_port) when the app must know its address first (BASE_URL, for passkeys).
    """
    port, http_port = port or free_port(), free_port()
    folder = Path(tempfile.mkdtemp(prefix="e2e-nginx-"))
    conf = write_nginx_files(project, folder, port, upstreams, http_port)
    log = folder / "error.log"
    with open(folder / "stdout.log", "wb") as out:
        process = subprocess.Popen(nginx_command(conf), stdout=out, stderr=subprocess.STDOUT)
    server = Nginx(process, port, log, http_port, certificate_of(conf))
    try:
        with show_log_on_failure("nginx", log):
            wait_until(lambda: accepts_connections(port), "nginx", process, log)
            yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
