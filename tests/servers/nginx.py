"""nginx with the baked site, its addresses and paths swapped for loopback ones."""

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
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
BAKED_UPSTREAM = re.compile(r"^(\s*)server\s+web:8000;", re.MULTILINE)
BAKED_LISTEN = re.compile(r"\blisten\s+80\b")


def site_config(project, port, upstreams):
    """The baked nginx site with only addresses and paths changed for a loopback run.

    `listen 80` becomes 127.0.0.1:port, the upstream's `web:8000` becomes one `server` line
    per address in `upstreams`, and /srv/<slug> (where the site expects the project) becomes
    the baked project's folder. Raises if the baked site no longer has what is replaced.
    """
    slug = project.name
    text = (project / "nginx" / f"{slug}.conf").read_text()
    for pattern in (BAKED_UPSTREAM, BAKED_LISTEN):
        if not pattern.search(text):
            raise AssertionError(f"the baked nginx site has no {pattern.pattern!r}")
    text = BAKED_UPSTREAM.sub(
        lambda match: "\n".join(f"{match[1]}server {address};" for address in upstreams), text
    )
    text = BAKED_LISTEN.sub(f"listen 127.0.0.1:{port}", text)
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


def write_nginx_files(project, folder, port, upstreams):
    """Write the loopback site and its nginx.conf into `folder`; returns the nginx.conf path."""
    folder = Path(folder)
    site = folder / "site.conf"
    # The site logs to /var/log/nginx/access.log: here, to site-access.log in `folder`.
    site.write_text(
        site_config(project, port, upstreams).replace("/var/log/nginx/", f"{folder}/site-")
    )
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


@contextlib.contextmanager
def nginx(project, upstreams):
    """nginx with the baked site config on 127.0.0.1:<free port>, proxying to `upstreams`.

    `upstreams` are host:port addresses (Server.address). The site answers the Host names
    127.0.0.1 (Server.url) and localhost; its default server drops the others.
    """
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="e2e-nginx-"))
    conf = write_nginx_files(project, folder, port, upstreams)
    log = folder / "error.log"
    with open(folder / "stdout.log", "wb") as out:
        process = subprocess.Popen(nginx_command(conf), stdout=out, stderr=subprocess.STDOUT)
    server = Server(process, port, log)
    try:
        with show_log_on_failure("nginx", log):
            wait_until(lambda: accepts_connections(port), "nginx", process, log)
            yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
