"""Real servers on loopback for end-to-end tests, one module per server.

Each server is a context manager that starts it on a free 127.0.0.1 port, waits until it
answers, and stops it and removes its files on the way out, also when the test fails (then
its log is printed, so pytest shows it with the failure). A missing program skips the test
with the reason; under CI (env CI set) conftest turns that skip into a failure.
Shared process helpers live in `process`; add a new server as a module of its own.
"""

from .balancer import balancer
from .gunicorn import gunicorn
from .nginx import (
    BAKED_LISTEN,
    BAKED_UPSTREAM,
    Nginx,
    main_config,
    make_certificate,
    nginx,
    nginx_command,
    readme_certificate_command,
    site_config,
    trusting,
    write_nginx_files,
)
from .otlp import Collector, otlp
from .pebble import Pebble, pebble
from .postgres import (
    DebianCluster,
    Postgres,
    PostgresProject,
    debian_cluster,
    postgres,
    postgres_bin,
    postgres_project,
)
from .process import (
    SBIN,
    STARTUP_SECONDS,
    Server,
    accepts_connections,
    answers_http,
    descendants,
    free_port,
    missing,
    need,
    read,
    show_log_on_failure,
    stop_process,
    wait_until,
    worker_pids,
)
from .prometheus import Prometheus, prometheus, promtool
from .proxy import Proxy, proxy
from .redis import Redis, redis
from .sentry import SentryStandIn, sentry
from .smtp import Mailbox, smtp
from .worker import Worker, worker
