"""Logs: one JSON object a line in production, readable text in development, and a request id.

Every request has an id: the one nginx sends in X-Request-ID (believed only when the app sits
behind trusted proxies, TRUSTED_PROXIES), or a new one. Every log record made while the request
runs carries it, and so do the response's X-Request-ID header and Gunicorn's access line (set
up here too, see gunicorn.conf.py): one id ties nginx's, Gunicorn's and the app's lines for one
request together.
"""

import logging
import logging.config
import re
import secrets
from typing import Any, cast

from flask import Flask, Response, g, has_request_context, request

from . import tracing

FORMATS = ("json", "text")

# nginx's $request_id is 32 hex digits; other proxies send UUIDs. Anything else (too long, with
# spaces, quotes or line breaks) is replaced, so a client cannot forge or break log lines.
VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,128}")

# Probed every few seconds by Docker, compose or a load balancer: no access-log line for them.
PROBES = frozenset({"/healthz", "/readyz"})

# The links mailed to people carry a token in the path (auth/tokens.py): whoever reads a log
# line with one could use it. Their lines show the path up to the token, then "-".
TOKEN_PATHS = re.compile(r"^(/auth/(?:reset-password|verify)/)[^/]+")

# Gunicorn's access line (its atoms): method, path (no query string, which may hold tokens),
# status and seconds taken. AccessFields copies the same values into fields of their own.
ACCESS_LOG_FORMAT = "%(m)s %(U)s %(s)s %(L)ss"


def init_app(app: Flask) -> None:
    """Configure logging as LOG_FORMAT says (the testing config leaves it to pytest), and give
    each request its id before anything else runs (so call this before adding extensions)."""
    if app.config["LOG_FORMAT"]:
        logging.config.dictConfig(logging_config(app.config["LOG_FORMAT"]))
        logging.captureWarnings(True)  # Python's warnings too, as records, not bare stderr text
    trust_incoming = app.config["TRUSTED_PROXIES"] > 0

    @app.before_request
    def assign_request_id() -> None:
        incoming = request.headers.get("X-Request-ID", "") if trust_incoming else ""
        g.request_id = incoming if VALID_REQUEST_ID.fullmatch(incoming) else secrets.token_hex(16)
        request.environ["REQUEST_ID"] = g.request_id  # for Gunicorn's access log

    @app.after_request
    def send_request_id(response: Response) -> Response:
        if "request_id" in g:  # absent only if the request failed before any hook ran
            response.headers["X-Request-ID"] = g.request_id
        return response


class RequestId(logging.Filter):
    """Puts the request id on every record made while a request runs."""

    def filter(self, record: logging.LogRecord) -> bool:
        if has_request_context() and "request_id" in g:
            record.request_id = g.request_id
        return True


class TraceIds(logging.Filter):
    """With traces on, puts the ids of the span running now (a request's, a job's) on every
    record, to find a trace's log lines and a log line's trace."""

    def filter(self, record: logging.LogRecord) -> bool:
        ids = tracing.current_ids()
        if ids:
            record.trace_id, record.span_id = ids
        return True


class AccessFields(logging.Filter):
    """Gunicorn's access records: drops probes, lifts its atoms into fields of their own."""

    def filter(self, record: logging.LogRecord) -> bool:
        atoms = cast(
            dict[str, Any], record.args
        )  # Gunicorn's dict of atoms; a missing one reads as "-"
        if atoms["U"] in PROBES:
            return False
        atoms["U"] = redacted(atoms["U"])  # the line's message is made from these atoms
        # From the WSGI environ, where the app put the id, not from the response.
        record.request_id = atoms["{request_id}e"]
        if atoms["{trace_id}e"] != "-":  # traces on (tracing.request_started put it there)
            record.trace_id = atoms["{trace_id}e"]
        record.method = atoms["m"]
        record.path = atoms["U"]
        record.status = int(atoms["s"])
        record.duration_s = atoms["D"] / 1_000_000
        record.bytes = atoms["B"]
        record.remote_addr = atoms["h"]
        return True


def redacted(path: str) -> str:
    """The path as access logs show it: without the token of a mailed link."""
    return TOKEN_PATHS.sub(r"\1-", path)


def logging_config(log_format: str) -> dict[str, Any]:
    """A logging.config.dictConfig() dictionary: the app, libraries and Gunicorn to stdout."""
    if log_format not in FORMATS:
        raise RuntimeError(f"LOG_FORMAT={log_format!r} is not one of: {', '.join(FORMATS)}")
    formatters = {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(levelname)s %(name)s %(message)s",
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": "time",  # ISO 8601, UTC, milliseconds
        },
        "text": {
            "()": "logging.Formatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
            "defaults": {"request_id": "-"},
        },
    }
    stdout = {"class": "logging.StreamHandler", "stream": "ext://sys.stdout"}
    return {
        "version": 1,
        "disable_existing_loggers": False,  # keep SQLAlchemy's, Gunicorn's, ... loggers working
        "formatters": {"main": formatters[log_format]},
        "filters": {
            "request_id": {"()": f"{__name__}.RequestId"},
            "trace_ids": {"()": f"{__name__}.TraceIds"},
            "access": {"()": f"{__name__}.AccessFields"},
        },
        "handlers": {
            "app": {**stdout, "formatter": "main", "filters": ["request_id", "trace_ids"]},
            "access": {**stdout, "formatter": "main", "filters": ["access"]},
        },
        "root": {"level": "INFO", "handlers": ["app"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["app"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["access"], "propagate": False},
            # Alembic 1.17+ logs a line per plugin it loads, at every `flask` command.
            "alembic.runtime.plugins": {"level": "WARNING"},
        },
    }
