"""gunicorn.conf.py, as Gunicorn reads it."""

import runpy
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

CONF = Path(__file__).parent.parent / "gunicorn.conf.py"
SOCKET = "{{ cookiecutter.project_slug }}-127.0.0.1-8000.ctl"  # the default address's


@pytest.fixture
def settings(monkeypatch):
    def read(**env):
        for name, value in env.items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        return runpy.run_path(str(CONF))

    return read


def test_each_app_and_address_has_a_control_socket_of_its_own(settings, tmp_path):
    """Gunicorn's default, $XDG_RUNTIME_DIR/gunicorn.ctl, is shared by all of a user's."""
    runtime = str(tmp_path)
    socket = settings(XDG_RUNTIME_DIR=runtime, GUNICORN_BIND=None)["control_socket"]
    assert socket == str(tmp_path / SOCKET)
    other = settings(XDG_RUNTIME_DIR=runtime, GUNICORN_BIND="0.0.0.0:8001")["control_socket"]
    assert other == str(tmp_path / "{{ cookiecutter.project_slug }}-0.0.0.0-8001.ctl")


def test_without_a_runtime_folder_the_socket_is_in_the_users_home(settings, tmp_path):
    socket = settings(XDG_RUNTIME_DIR=None, GUNICORN_BIND=None, HOME=str(tmp_path))
    assert socket["control_socket"] == str(tmp_path / ".gunicorn" / SOCKET)


class Log:
    def __init__(self):
        self.warnings = []

    def warning(self, message, *args):
        self.warnings.append(message % args)


@pytest.mark.parametrize(
    "queue, warned", [(None, True), ("redis://127.0.0.1:6379/1", False)], ids=["none", "redis"]
)
def test_gunicorn_warns_at_start_when_mails_would_be_sent_during_requests(settings, queue, warned):
    hooks = settings(JOBS_REDIS_URL=queue, SECRETS_DIR=None, RATELIMIT_STORAGE_URI=None)
    server = SimpleNamespace(cfg=SimpleNamespace(workers=1), log=Log())
    hooks["on_starting"](server)
    found = [line for line in server.log.warnings if line.startswith("JOBS_REDIS_URL")]
    assert bool(found) == warned


# Libraries loaded only when a setting asks for them (DATABASE_PASSWORD, SENTRY_DSN,
# JOBS_REDIS_URL, METRICS_PORT, OTEL_EXPORTER_OTLP_ENDPOINT): 13, 4.5 and 5.5 MiB of every
# worker's memory otherwise (OpenTelemetry with its protobuf: 17 MiB).
LOADED_WHEN_USED = {
    "sqlalchemy",
    "sentry_sdk",
    "redis",
    "rq",
    "prometheus_client",
    "opentelemetry",
    "google",
}
PACKAGE = "{{ cookiecutter.project_slug }}"


def top_level_modules(code):
    """The top-level packages a fresh Python has loaded after running `code`."""
    code += "; import sys; print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    result = subprocess.run(  # noqa: S603  (this interpreter, this test's own code)
        [sys.executable, "-c", code],
        cwd=CONF.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return set(result.stdout.split())


def test_gunicorns_master_holds_only_the_settings():
    """gunicorn.conf.py loads the settings into Gunicorn's master, whose memory every worker
    inherits: the database, Sentry and the queue come with the app, in the workers."""
    modules = ", ".join(f"{PACKAGE}.{name}" for name in ("config", "logs", "telemetry", "tracing"))
    loaded = top_level_modules(f"import {modules}")
    assert not loaded & LOADED_WHEN_USED


def test_the_app_loads_sentry_the_queue_metrics_and_traces_only_when_set(monkeypatch):
    for name in ("SENTRY_DSN", "JOBS_REDIS_URL", "SECRETS_DIR", "PROMETHEUS_MULTIPROC_DIR"):
        monkeypatch.delenv(name, raising=False)
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SECRET_KEY", "a-production-secret-key-of-enough-length-0123")
    monkeypatch.setenv("BASE_URL", "https://example.com")
    loaded = top_level_modules(f"from {PACKAGE} import create_app; create_app('production')")
    assert not loaded & (LOADED_WHEN_USED - {"sqlalchemy"})
    # ... and the same check sees them once set (Sentry's, the queue's: tests of their own).
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    loaded = top_level_modules(f"from {PACKAGE} import create_app; create_app('production')")
    assert "opentelemetry" in loaded
