"""Gunicorn settings: `gunicorn` run in this folder reads them and serves the app.

Gunicorn does not read .env: the app's settings (SECRET_KEY, DATABASE_URL, ...) come from
the real environment (Docker Compose's env_file, systemd's EnvironmentFile).
"""

import multiprocessing
import os
import re
import shutil
import tempfile

from {{ cookiecutter.project_slug }} import telemetry, tracing
from {{ cookiecutter.project_slug }}.config import secret_setting, traces_wanted
from {{ cookiecutter.project_slug }}.logs import ACCESS_LOG_FORMAT, logging_config

wsgi_app = "{{ cookiecutter.project_slug }}:create_app()"

# Loopback by default: only nginx on the same machine should reach Gunicorn. The Docker
# image sets GUNICORN_BIND=0.0.0.0:8000 so nginx can reach it over the compose network.
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
# Sync workers (Gunicorn's default): nginx buffers slow clients, so none holds a worker, and
# they answer with a lower p99 than threaded workers for the same CPU per request.

timeout = 30  # a worker silent this long is killed and replaced
graceful_timeout = 20  # on stop or reload, requests in flight get this long to finish

accesslog = "-"  # both logs to stdout: Docker and journald keep them
errorlog = "-"
# ... through the app's logging setup: one JSON object a line (LOG_FORMAT=text for people),
# each access line with the request id, status and duration, none for /healthz and /readyz.
logconfig_dict = logging_config(os.environ.get("LOG_FORMAT", "json"))
access_log_format = ACCESS_LOG_FORMAT

# gunicornc's control socket, one for each app and address. Gunicorn's default path is the
# same for every Gunicorn of a user ($XDG_RUNTIME_DIR/gunicorn.ctl, else
# ~/.gunicorn/gunicorn.ctl): a second one would take it over, then delete it when it stops.
control_socket = os.path.join(
    os.environ.get("XDG_RUNTIME_DIR") or os.path.expanduser("~/.gunicorn"),
    "{{ cookiecutter.project_slug }}-" + re.sub(r"[^\w.-]", "-", bind) + ".ctl",
)

# Gunicorn itself trusts X-Forwarded-* only from these addresses; the app's ProxyFix
# (TRUSTED_PROXIES) decides what the app believes.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")


def on_starting(server):
    """Warn at start of what production as set cannot keep: the login rate limit when
    memory:// counts in each worker, and mails when there is no queue to send them from."""
    storage = secret_setting("RATELIMIT_STORAGE_URI", "memory://")  # as the app reads it
    count = server.cfg.workers
    if count > 1 and storage.startswith("memory://"):
        server.log.warning(
            "RATELIMIT_STORAGE_URI is memory:// with %d workers: each worker counts login "
            "attempts on its own, so a client gets up to %d times the limit. Point it at a "
            "shared Redis, e.g. RATELIMIT_STORAGE_URI=redis://127.0.0.1:6379/0",
            count,
            count,
        )
    if not secret_setting("JOBS_REDIS_URL"):
        server.log.warning(
            "JOBS_REDIS_URL is not set: each mail is sent during the request that asks for it, "
            "which waits for the mail server, and is lost if that is down. Run `flask jobs "
            "worker` with a Redis, e.g. JOBS_REDIS_URL=redis://127.0.0.1:6379/1"
        )


# Prometheus metrics (docs/observability.md), off unless METRICS_PORT is set. The workers count
# into files in a fresh folder (made here, before any of them starts; kept across a reload,
# which reads this file again); the master serves the sums on METRICS_BIND:METRICS_PORT.
metrics_port = os.environ.get("METRICS_PORT")
if metrics_port and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="gunicorn-metrics-")
    os.environ["GUNICORN_METRICS_DIR_MADE"] = os.environ["PROMETHEUS_MULTIPROC_DIR"]


def when_ready(server):
    if metrics_port:
        bind = os.environ.get("METRICS_BIND", "127.0.0.1")
        app_address = server.cfg.bind[0]
        telemetry.serve(bind, int(metrics_port), app_address, secret_setting("JOBS_REDIS_URL"))
        server.log.info("metrics on http://%s:%s/metrics", bind, metrics_port)


def post_fork(server, worker):
    telemetry.close_in_worker()
    if traces_wanted():  # here, in each worker: the SDK's batch processor is not fork-safe
        tracing.setup("{{ cookiecutter.project_slug }}")


def child_exit(server, worker):
    if metrics_port:
        telemetry.worker_exited(worker.pid)


def on_exit(server):
    made = os.environ.get("GUNICORN_METRICS_DIR_MADE")
    if made:
        shutil.rmtree(made, ignore_errors=True)
