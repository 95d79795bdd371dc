"""Traces (OpenTelemetry), on when OTEL_EXPORTER_OTLP_ENDPOINT is set (docs/observability.md).

Each process that sends spans sets the SDK up itself, after it was forked: Gunicorn's workers
from gunicorn.conf.py's post_fork, the job worker from jobs/worker.py (the batch processor's
thread does not survive a fork). init_app instruments the app in any process: Flask's requests
(opentelemetry-instrumentation-flask), Redis (opentelemetry-instrumentation-redis), and, by hand
here, SQLAlchemy's queries (the instrumentation package declares `sqlalchemy<2.1`) and the mails
(smtplib has no instrumentation). jobs/ carries each job's trace context in its meta.

The SDK reads OpenTelemetry's own variables (OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER, ...).
Nothing of OpenTelemetry is imported while traces are off (as Sentry and RQ: see sentry.py).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from flask import Flask, request

if TYPE_CHECKING:  # no import of the SDK while traces are off, not even for the types
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace.id_generator import IdGenerator
    from opentelemetry.sdk.trace.sampling import Sampler, SamplingResult
    from opentelemetry.trace import Link, Span, SpanKind, TraceState
    from opentelemetry.util.types import Attributes

# One trace in ten (a request's, with its queries and its jobs'), unless a traced caller in
# front (a proxy that traces) already decided: OTEL_TRACES_SAMPLER and _ARG say otherwise.
DEFAULT_SAMPLER = "parentbased_traceidratio"
DEFAULT_SAMPLER_ARG = "0.1"
# Probed every few seconds: no span for them (OTEL_PYTHON_FLASK_EXCLUDED_URLS adds others).
EXCLUDED_URLS = "/healthz,/readyz"

STATE: dict[str, bool] = {"on": False}  # True once this process imported the instrumentation
# The trace id a request was sampled on at the door (sampled_first), for its span to take.
PLANNED: ContextVar[int | None] = ContextVar("planned_trace_id", default=None)
DROPPED = "tracing.dropped"  # in the environ of a request the sampler did not keep


def setup(service: str) -> None:
    """Send this process's spans to OTLP/HTTP in batches (call it after any fork)."""
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    os.environ.setdefault("OTEL_TRACES_SAMPLER", DEFAULT_SAMPLER)
    os.environ.setdefault("OTEL_TRACES_SAMPLER_ARG", DEFAULT_SAMPLER_ARG)
    named = "OTEL_SERVICE_NAME" in os.environ or "service.name=" in os.environ.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    )
    resource = Resource.create({} if named else {"service.name": service})
    configured = TracerProvider(shutdown_on_exit=False).sampler  # as OTEL_TRACES_SAMPLER says
    sampler = in_traces(configured)
    provider = TracerProvider(resource=resource, sampler=sampler, id_generator=planned_ids())
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    STATE["on"] = True


def flush() -> None:
    """Export the spans still held: an RQ work horse ends with os._exit, skipping atexit."""
    from opentelemetry import trace

    provider = trace.get_tracer_provider()
    if hasattr(provider, "force_flush"):
        provider.force_flush(5000)


def init_app(app: Flask) -> None:
    """Instrument requests, queries and Redis when TRACING is on (config.py)."""
    if not app.config["TRACING"]:
        return
    from opentelemetry.instrumentation.flask import FlaskInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    STATE["on"] = True
    excluded = os.environ.get("OTEL_PYTHON_FLASK_EXCLUDED_URLS")
    untraced = app.wsgi_app
    hook_lists: list[list[Any]] = [
        app.before_request_funcs[None],
        app.teardown_request_funcs[None],
    ]
    known = [list(hooks) for hooks in hook_lists]
    FlaskInstrumentor().instrument_app(  # type: ignore[no-untyped-call]
        app,
        request_hook=request_started,
        response_hook=response_started,
        excluded_urls=f"{EXCLUDED_URLS},{excluded}" if excluded else EXCLUDED_URLS,
        enable_commenter=False,
    )
    # Only the requests the sampler keeps go through the instrumentation: its WSGI wrapper
    # and the before/teardown hooks it added, wherever it put them.
    app.wsgi_app = sampled_first(untraced, app.wsgi_app)  # type: ignore[method-assign,assignment]
    for hooks, ours in zip(hook_lists, known, strict=True):
        hooks[:] = [hook if hook in ours else when_kept(hook) for hook in hooks]
    if not RedisInstrumentor().is_instrumented_by_opentelemetry:
        RedisInstrumentor().instrument()
    trace_queries()


def sampled_first(untraced: WSGIApplication, traced: WSGIApplication) -> WSGIApplication:
    """Ask the sampler at the door, on the trace id the request's span will take: only the
    requests it keeps go through the instrumentation, which collects a request's attributes
    before the sampler decides (most of what tracing cost). The others run under a context
    that is not sampled, as they did in the instrumentation's, so that their queries and jobs
    are not traced either, and an incoming `traceparent` is followed as before."""
    from opentelemetry import context, propagate, trace
    from opentelemetry.instrumentation.wsgi import wsgi_getter
    from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
    from opentelemetry.sdk.trace.sampling import Decision

    ids = RandomIdGenerator()

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        sampler: Sampler | None = getattr(trace.get_tracer_provider(), "sampler", None)
        if sampler is None:  # no SDK set up in this process
            return traced(environ, start_response)
        incoming = propagate.extract(environ, getter=wsgi_getter)
        trace_id = ids.generate_trace_id()
        method = environ.get("REQUEST_METHOD", "GET")
        kind = trace.SpanKind.SERVER
        if sampler.should_sample(incoming, trace_id, method, kind).decision != Decision.DROP:
            planned = PLANNED.set(trace_id)
            try:
                return traced(environ, start_response)
            finally:
                PLANNED.reset(planned)
        if not trace.get_current_span(incoming).get_span_context().is_valid:  # no caller's
            root = trace.SpanContext(trace_id, ids.generate_span_id(), is_remote=False)
            incoming = trace.set_span_in_context(trace.NonRecordingSpan(root), incoming)
        environ[DROPPED] = True
        token = context.attach(incoming)
        try:
            return untraced(environ, start_response)
        finally:
            context.detach(token)

    return app


def when_kept(hook: Callable[..., Any]) -> Callable[..., Any]:
    """One of the instrumentation's before/teardown hooks, run only for the requests traced."""

    def hook_when_kept(*args: Any) -> Any:
        return None if request.environ.get(DROPPED) else hook(*args)

    return hook_when_kept


def planned_ids() -> IdGenerator:
    """Random ids, but a request's span takes the trace id it was sampled on (sampled_first)."""
    from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

    class PlannedIds(RandomIdGenerator):
        def generate_trace_id(self) -> int:
            planned = PLANNED.get()
            if planned is None:
                return super().generate_trace_id()
            PLANNED.set(None)  # the request's span only: its children share its trace id
            return planned

    return PlannedIds()


def request_started(span: Span, environ: dict[str, Any]) -> None:
    """Gunicorn's access line gets the request's trace id from the environ (logs.py)."""
    if span.is_recording():
        environ["TRACE_ID"] = format(span.get_span_context().trace_id, "032x")


def response_started(span: Span, status: str, headers: list[tuple[str, str]]) -> None:
    """The request's span shows its path as the access log does: without the token of a
    mailed link, nor the query string (the instrumentation records both)."""
    from .logs import redacted

    recorded = getattr(span, "attributes", None)
    if not span.is_recording() or not recorded:
        return
    path = redacted(request.path)
    for key in ("http.target", "url.path"):
        if key in recorded:
            span.set_attribute(key, path)
    for key in ("http.url", "url.full"):
        if key in recorded:
            url = urlsplit(str(recorded[key]))
            span.set_attribute(key, url._replace(path=path, query="").geturl())
    if "url.query" in recorded:
        span.set_attribute("url.query", "")


def trace_queries() -> None:
    """A span for each query of every engine: by hand, with SQLAlchemy's own events."""
    from opentelemetry import trace
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    if STATE.get("queries"):
        return
    STATE["queries"] = True
    tracer = trace.get_tracer(__name__)

    def started(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        context = args[-2]  # parameters, context, executemany
        name = statement.split(None, 1)[0].upper() if statement.strip() else "SQL"
        attributes = {"db.system": conn.dialect.name, "db.statement": statement}
        span = tracer.start_span(name, kind=trace.SpanKind.CLIENT, attributes=attributes)
        if context is not None:
            context._otel_span = span
        else:
            span.end()

    def finished(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        span = getattr(args[-2], "_otel_span", None)
        if span is not None:
            span.end()

    def failed(exception_context: Any) -> None:
        span = getattr(exception_context.execution_context, "_otel_span", None)
        if span is not None:
            span.record_exception(exception_context.original_exception)
            span.set_status(trace.Status(trace.StatusCode.ERROR))
            span.end()

    event.listen(Engine, "before_cursor_execute", started)
    event.listen(Engine, "after_cursor_execute", finished)
    event.listen(Engine, "handle_error", failed)


@contextlib.contextmanager
def span(
    name: str, kind: str = "internal", attributes: Mapping[str, str | int] | None = None
) -> Iterator[None]:
    """A span around the block while traces are on (a mail sent, a job queued); else nothing."""
    if not STATE["on"]:
        yield
        return
    from opentelemetry import trace

    span_kind = trace.SpanKind[kind.upper()]
    with trace.get_tracer(__name__).start_as_current_span(
        name, kind=span_kind, attributes=attributes
    ):
        yield


def inject(carrier: MutableMapping[str, Any]) -> None:
    """Put the current trace context (`traceparent`) into a queued job's meta."""
    if STATE["on"]:
        from opentelemetry import propagate

        propagate.inject(carrier)


@contextlib.contextmanager
def job_span(name: str, carrier: Mapping[str, Any]) -> Iterator[None]:
    """The worker's span for a job, a child of the span that queued it (inject)."""
    if not STATE["on"]:
        yield
        return
    from opentelemetry import context, propagate

    token = context.attach(propagate.extract(dict(carrier)))
    try:
        with span(name, "consumer"):
            yield
    finally:
        context.detach(token)


def current_ids() -> tuple[str, str] | None:
    """(trace id, span id) in hex of the span running now, if its trace is kept, for log
    lines and Sentry events."""
    if not STATE["on"]:
        return None
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if not context.is_valid or not context.trace_flags.sampled:
        return None  # a trace not kept (sampling): its ids would lead nowhere
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def in_traces(sampler: Sampler) -> Sampler:
    """The configured sampler, but a Redis command or a query that belongs to no request or
    job is never traced: the worker polling the queue, /readyz asking the database."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult

    class InTraces(Sampler):
        def should_sample(
            self,
            parent_context: Context | None,
            trace_id: int,
            name: str,
            kind: SpanKind | None = None,
            attributes: Attributes = None,
            links: Sequence[Link] | None = None,
            trace_state: TraceState | None = None,
        ) -> SamplingResult:
            parent = trace.get_current_span(parent_context).get_span_context()
            if kind == trace.SpanKind.CLIENT and not parent.is_valid:
                return SamplingResult(Decision.DROP)
            return sampler.should_sample(
                parent_context, trace_id, name, kind, attributes, links, trace_state
            )

        def get_description(self) -> str:
            return f"InTraces({sampler.get_description()})"

    return InTraces()
