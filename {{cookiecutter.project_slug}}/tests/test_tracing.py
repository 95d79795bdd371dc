"""Traces (tracing.py), with the SDK's in-memory exporter in place of a collector.

The whole path (Gunicorn's workers, Redis, the job worker and a mail server, exporting over
OTLP/HTTP) is the template's end-to-end test; here the parts, in this process.
"""

import json
import logging

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, Decision
from opentelemetry.trace import SpanKind
from sqlalchemy import select

from {{ cookiecutter.project_slug }} import jobs, logs, sentry, tracing
from {{ cookiecutter.project_slug }}.auth import email
from {{ cookiecutter.project_slug }}.extensions import db
from {{ cookiecutter.project_slug }}.models import User

TRACING_ON = {"TRACING": True}
EXPORTER = InMemorySpanExporter()


@pytest.fixture(scope="session", autouse=True)
def provider():
    """One provider for the session (OpenTelemetry lets a process set it once)."""
    provider = TracerProvider(sampler=tracing.in_traces(ALWAYS_ON))
    provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
    trace.set_tracer_provider(provider)
    return provider


@pytest.fixture(scope="module", autouse=True)
def traces_off_after():
    """The modules after this one run as without an endpoint (the provider stays: once)."""
    yield
    tracing.STATE["on"] = False


@pytest.fixture
def spans():
    EXPORTER.clear()
    yield EXPORTER.get_finished_spans
    EXPORTER.clear()


def named(finished, name):
    return [span for span in finished() if span.name == name]


@pytest.mark.settings(**TRACING_ON)
def test_a_request_has_a_span_with_its_queries_inside(app, client, spans):
    client.get("/auth/login")
    client.post("/auth/login", data={"username": "nobody", "password": "wrong password"})
    (request,) = named(spans, "POST /auth/login")
    assert request.kind == SpanKind.SERVER
    queries = [s for s in spans() if s.attributes.get("db.statement")]
    assert queries, [s.name for s in spans()]
    mine = [q for q in queries if q.context.trace_id == request.context.trace_id]
    assert any(q.name == "SELECT" and q.parent.span_id == request.context.span_id for q in mine)
    assert all(q.kind == SpanKind.CLIENT for q in mine)


@pytest.mark.settings(**TRACING_ON)
def test_a_mailed_token_and_the_query_string_stay_out_of_the_span(app, client, spans):
    client.get("/auth/reset-password/secret-token-in-the-link?next=private")
    (request,) = named(spans, "GET /auth/reset-password/<token>")
    recorded = json.dumps(dict(request.attributes))
    assert "secret-token" not in recorded
    assert "private" not in recorded
    assert "/auth/reset-password/-" in recorded


@pytest.mark.settings(**TRACING_ON)
def test_probes_have_no_spans_nor_their_queries(app, client, spans):
    client.get("/healthz")
    client.get("/readyz")
    assert spans() == ()


def test_a_query_outside_any_trace_is_not_sampled():
    sampler = tracing.in_traces(ALWAYS_ON)
    orphan = sampler.should_sample(None, 1, "SELECT", SpanKind.CLIENT)
    assert orphan.decision == Decision.DROP
    request = sampler.should_sample(None, 1, "GET /", SpanKind.SERVER)
    assert request.decision == Decision.RECORD_AND_SAMPLE


@pytest.mark.settings(**TRACING_ON)
def test_a_job_carries_the_trace_of_the_request_that_queued_it(app, spans):
    """Queued inside a request's span, the job's meta gets its traceparent; the worker's span
    for the job (jobs/worker.py) is then a child of the enqueue span, and the mail's of it."""
    queued = {}

    class Queue:
        def enqueue(self, function, *args, **options):
            queued.update(options["meta"])
            return type("Job", (), {"id": "job-1"})

    app.extensions["jobs"] = Queue()
    tracer = trace.get_tracer(__name__)
    with app.test_request_context("/"), tracer.start_as_current_span("request") as request:
        assert jobs.enqueue(print, "hello")
    (enqueue,) = named(spans, "enqueue print")
    assert enqueue.kind == SpanKind.PRODUCER
    assert enqueue.parent.span_id == request.get_span_context().span_id
    assert queued["traceparent"].split("-")[1:3] == [
        format(enqueue.context.trace_id, "032x"),
        format(enqueue.context.span_id, "016x"),
    ]
    del app.extensions["jobs"]
    with app.app_context(), tracing.job_span("run deliver", queued):
        email.deliver(["ann@example.com"], "Hello", "body")
    (job,) = named(spans, "run deliver")
    (smtp,) = named(spans, "smtp send")
    assert job.kind == SpanKind.CONSUMER
    assert job.parent.span_id == enqueue.context.span_id
    assert smtp.parent.span_id == job.context.span_id
    assert smtp.context.trace_id == request.get_span_context().trace_id


@pytest.mark.settings(**TRACING_ON)
def test_log_lines_carry_the_trace_and_span_ids(app, spans):
    record = logging.LogRecord("app", logging.INFO, __file__, 1, "hello", None, None)
    with trace.get_tracer(__name__).start_as_current_span("request") as span:
        logs.TraceIds().filter(record)
    context = span.get_span_context()
    assert record.trace_id == format(context.trace_id, "032x")
    assert record.span_id == format(context.span_id, "016x")


@pytest.mark.settings(**TRACING_ON)
def test_sentry_events_carry_the_trace_id(app, spans):
    with app.test_request_context("/"), trace.get_tracer(__name__).start_as_current_span("x"):
        event = sentry.before_send({"message": "boom"}, {})
        context = trace.get_current_span().get_span_context()
    assert event["tags"]["trace_id"] == format(context.trace_id, "032x")
    assert event["contexts"]["opentelemetry"]["span"] == format(context.span_id, "016x")


def test_the_log_lines_of_a_trace_not_kept_carry_no_ids(monkeypatch):
    monkeypatch.setitem(tracing.STATE, "on", True)
    provider = TracerProvider(sampler=tracing.in_traces(ALWAYS_OFF), shutdown_on_exit=False)
    tracer = provider.get_tracer(__name__)
    record = logging.LogRecord("app", logging.INFO, __file__, 1, "hello", None, None)
    with tracer.start_as_current_span("request"):
        logs.TraceIds().filter(record)
    assert not hasattr(record, "trace_id")


def test_without_an_endpoint_nothing_is_traced(app, client, spans, monkeypatch):
    monkeypatch.setitem(tracing.STATE, "on", False)
    client.get("/")
    assert spans() == ()
    assert tracing.current_ids() is None


@pytest.mark.settings(**TRACING_ON)
def test_a_users_query_is_a_span(app, spans):
    with trace.get_tracer(__name__).start_as_current_span("job"):
        db.session.scalar(select(User).filter_by(username="nobody"))
    (query,) = [s for s in spans() if s.name == "SELECT"]
    assert query.attributes["db.system"] in ("sqlite", "postgresql")
    assert "nobody" not in query.attributes["db.statement"]  # the values stay out
