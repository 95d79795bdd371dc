"""A load balancer in front of the baked nginx site, played by a second, minimal nginx.

It does what a cloud or on-premises balancer does for the site behind it: passes the Host on
and appends the address the connection came from to X-Forwarded-For. The baked nginx then
sees every visitor arrive from the balancer's address (127.0.0.1 here).
"""

import contextlib
import os
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


def balancer_config(folder, port, upstream_url):
    """A whole nginx.conf: one server on 127.0.0.1:port proxying everything to upstream_url."""
    user = "user root root;\n" if os.geteuid() == 0 else ""
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
    access_log {folder}/access.log;
{temp}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass {upstream_url};
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}
    }}
}}
"""


@contextlib.contextmanager
def balancer(upstream_url):
    """The balancer on 127.0.0.1:<free port>, forwarding to `upstream_url` (Server.url)."""
    executable = need("nginx", *SBIN)
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="e2e-balancer-"))
    conf = folder / "nginx.conf"
    conf.write_text(balancer_config(folder, port, upstream_url))
    log = folder / "error.log"
    command = [executable, "-p", str(folder), "-e", str(log), "-c", str(conf)]
    with open(folder / "stdout.log", "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    server = Server(process, port, log)
    try:
        with show_log_on_failure("balancer", log):
            wait_until(lambda: accepts_connections(port), "balancer", process, log)
            yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
