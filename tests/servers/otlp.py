"""A stand-in for an OpenTelemetry collector on loopback: it keeps the spans posted to it over
OTLP/HTTP (protobuf, at /v1/traces), decoded with the opentelemetry-proto package."""

import contextlib
import gzip
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .process import missing

try:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
        ExportTraceServiceResponse,
    )
except ImportError:  # skipped below, or failed under CI
    ExportTraceServiceRequest = None


@dataclass(frozen=True)
class Span:
    """One received span: ids in hex, as the app's log lines carry them."""

    service: str
    name: str
    kind: int
    trace_id: str
    span_id: str
    parent_id: str
    attributes: dict


class Collector(ThreadingHTTPServer):
    def __init__(self):
        super().__init__(("127.0.0.1", 0), ExportHandler)
        self.spans = []
        self.arrived = threading.Condition()

    @property
    def endpoint(self):
        """OTEL_EXPORTER_OTLP_ENDPOINT for the app (the exporter adds /v1/traces)."""
        return f"http://127.0.0.1:{self.server_port}"

    def keep(self, request):
        with self.arrived:
            for resource_spans in request.resource_spans:
                service = attribute_values(resource_spans.resource.attributes)["service.name"]
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        self.spans.append(
                            Span(
                                service,
                                span.name,
                                span.kind,
                                span.trace_id.hex(),
                                span.span_id.hex(),
                                span.parent_span_id.hex(),
                                attribute_values(span.attributes),
                            )
                        )
            self.arrived.notify_all()

    def wait_for(self, found, seconds=20):
        """The spans once `found(spans)` is true of them, waiting up to `seconds`."""
        deadline = time.monotonic() + seconds
        with self.arrived:
            while not found(self.spans):
                left = deadline - time.monotonic()
                if left <= 0:
                    names = sorted({(s.service, s.name) for s in self.spans})
                    raise AssertionError(f"not received in {seconds} s; spans so far: {names}")
                self.arrived.wait(left)
            return list(self.spans)


def attribute_values(attributes):
    """OTLP's key-value list as a dict of plain values."""
    values = {}
    for item in attributes:
        kind = item.value.WhichOneof("value")
        values[item.key] = getattr(item.value, kind) if kind else None
    return values


class ExportHandler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        if self.path != "/v1/traces":
            self.send_error(404)
            return
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        self.server.keep(request)
        answer = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def otlp():
    """An OTLP/HTTP receiver on 127.0.0.1:<free port>, serving from a thread of this process."""
    if ExportTraceServiceRequest is None:
        missing("the opentelemetry-proto package is not installed")
    server = Collector()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
