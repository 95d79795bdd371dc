"""Traces (tracing.py), with the SDK's in-memory exporter in place of a collector.

The whole path (Gunicorn's workers, Redis, the job worker and a mail server, exporting over
OTLP/HTTP) is the template's end-to-end test; here the parts, in this process.
"""

import json
import logging
from unittest.mock import ANY

import pytest
from opentelemetry import trace
from opentelemetry.instrumentation import wsgi
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    Decision,
    ParentBased,
    TraceIdRatioBased,
)
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
    provider = TracerProvider(sampler=tracing.in_traces(ParentBased(ALWAYS_ON)))
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


@pytest.mark.settings(**TRACING_ON)
def test_a_request_dropped_skips_the_instrumentation(app, client, spans, provider, monkeypatch):
    """Decided at the door (tracing.sampled_first): a request the sampler drops, for a caller's
    `traceparent` or at its root, gets no span and none of the instrumentation's work (the
    request's attributes), and runs in a context not sampled: no query span, no trace id in
    its log lines, and a job it queues carries that decision."""
    collected = []

    def collect(*args, **kwargs):
        collected.append(args[0]["PATH_INFO"])
        return attributes(*args, **kwargs)

    attributes = wsgi.collect_request_attributes
    monkeypatch.setattr(wsgi, "collect_request_attributes", collect)
    seen = []

    @app.after_request
    def look(response):
        carrier = {}
        tracing.inject(carrier)
        seen.append((tracing.current_ids(), carrier.get("traceparent", "")))
        return response

    form = {"username": "nobody", "password": "wrong password"}
    caller = f"00-{'1' * 32}-{'2' * 16}-00"  # a caller that traces, but not this one
    client.post("/auth/login", data=form, headers={"traceparent": caller})
    with monkeypatch.context() as dropping:
        dropping.setattr(provider, "sampler", tracing.in_traces(ParentBased(ALWAYS_OFF)))
        client.post("/auth/login", data=form)
    assert spans() == ()
    assert collected == []
    (_, followed), (_, root) = seen
    assert followed == caller
    assert root.endswith("-00") and root != caller
    assert [ids for ids, _ in seen] == [None, None]

    client.get("/auth/login", headers={"traceparent": caller[:-2] + "01"})  # one that keeps it
    (request,) = named(spans, "GET /auth/login")
    assert request.context.trace_id == int("1" * 32, 16)
    assert request.parent.span_id == int("2" * 16, 16)
    assert collected and seen[-1][0] == (format(request.context.trace_id, "032x"), ANY)


def test_a_request_kept_at_the_door_is_kept_by_its_span():
    """The span takes the trace id the request was sampled on, so the ratio agrees."""
    sampler = tracing.in_traces(ParentBased(TraceIdRatioBased(0.5)))
    provider = TracerProvider(sampler, id_generator=tracing.planned_ids(), shutdown_on_exit=False)
    tracer = provider.get_tracer(__name__)
    for trace_id, kept in ((1, True), (2**64 - 1, False)):  # the ratio reads the low 64 bits
        assert sampler.should_sample(None, trace_id, "GET").decision.is_sampled() == kept
        token = tracing.PLANNED.set(trace_id)
        try:
            span = tracer.start_span("GET /", kind=SpanKind.SERVER)
            other = tracer.start_span("GET /", kind=SpanKind.SERVER)
        finally:
            tracing.PLANNED.reset(token)
        assert span.get_span_context().trace_id == trace_id
        assert span.is_recording() == kept
        assert other.get_span_context().trace_id != trace_id  # the request's span only


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
