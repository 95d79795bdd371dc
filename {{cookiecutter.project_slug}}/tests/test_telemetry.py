"""Metrics (telemetry.py): what each worker counts, and what the master reads at scrape time.

The whole path (Gunicorn's master summing its workers, Prometheus scraping it) is the
template's end-to-end test; here the parts, in this process.
"""

import threading

import pytest
from werkzeug.serving import make_server

from {{ cookiecutter.project_slug }} import create_app, telemetry

METRICS_ON = {"PROMETHEUS_MULTIPROC_DIR": "set by gunicorn.conf.py"}


def requests_counted(app, route, status, method="GET"):
    registry = app.extensions["metrics"].registry
    labels = {"route": route, "method": method, "status": status}
    return registry.get_sample_value("app_http_requests_total", labels) or 0


def test_metrics_are_off_unless_gunicorn_made_their_folder(app):
    assert "metrics" not in app.extensions


@pytest.mark.settings(**METRICS_ON)
def test_requests_are_counted_by_route_not_by_path(app, client):
    client.get("/")
    client.get("/")
    client.get("/no/such/page")
    client.get("/no/other/page")
    assert requests_counted(app, "/", "200") == 2
    assert requests_counted(app, telemetry.UNMATCHED, "404") == 2
    registry = app.extensions["metrics"].registry
    labels = {"route": "/", "method": "GET"}
    assert registry.get_sample_value("app_http_request_duration_seconds_count", labels) == 2
    assert registry.get_sample_value("app_http_request_duration_seconds_sum", labels) > 0


@pytest.mark.settings(**METRICS_ON)
def test_made_up_methods_are_counted_as_one(app, client):
    client.open("/", method="BREW")
    client.open("/no/such/page", method="WHEN")
    assert requests_counted(app, telemetry.UNMATCHED, "405", method="other") == 1
    assert requests_counted(app, telemetry.UNMATCHED, "404", method="other") == 1


@pytest.mark.settings(**METRICS_ON, PROPAGATE_EXCEPTIONS=False)  # answer 500, as in production
def test_errors_are_counted_with_their_status(app, client):
    @app.get("/boom")
    def boom():
        raise RuntimeError("boom")

    client.get("/boom")
    assert requests_counted(app, "/boom", "500") == 1


@pytest.fixture
def served(app):
    """The app on a loopback port, as Gunicorn's master asks it for /readyz."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    # shutdown() returns at the loop's next poll: every 0.05 s rather than the default 0.5 s.
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_port}"
    server.shutdown()


def scrape(collector):
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in collector.collect()
        for sample in family.samples
    }


def test_readiness_is_read_from_readyz_at_scrape_time(served):
    samples = scrape(telemetry.ScrapeTime(served, None))
    assert samples[("app_ready", (("check", "app"),))] == 1
    assert samples[("app_ready", (("check", "database"),))] == 1


@pytest.mark.settings(JOBS_REDIS_URL="redis://127.0.0.1:1/0")  # nothing listens
def test_a_dependency_that_fails_shows_as_not_ready(served):
    samples = scrape(telemetry.ScrapeTime(served, "redis://127.0.0.1:1/0"))
    assert samples[("app_ready", (("check", "app"),))] == 0
    assert samples[("app_ready", (("check", "jobs"),))] == 0
    assert samples[("app_ready", (("check", "database"),))] == 1
    assert not any(name.startswith("app_jobs") for name, _ in samples)  # no Redis to count in


def test_an_app_that_does_not_answer_is_not_ready():
    samples = scrape(telemetry.ScrapeTime("127.0.0.1:1", None))  # nothing listens
    assert samples == {("app_ready", (("check", "app"),)): 0}


def test_the_app_is_created_as_usual_with_metrics_on():
    app = create_app(METRICS_ON)
    assert "metrics" in app.extensions
