import json
import logging
import re
import tomllib
from pathlib import Path

import pytest

import {{ cookiecutter.project_slug }}
from {{ cookiecutter.project_slug }} import create_app
from {{ cookiecutter.project_slug }}.logs import ACCESS_LOG_FORMAT, AccessFields

NEW_ID = re.compile(r"[0-9a-f]{32}")  # the shape of nginx's $request_id too


@pytest.fixture
def restore_logging():
    """Tests that let create_app configure logging put pytest's handlers back afterwards."""
    loggers = [logging.getLogger(name) for name in ("", "gunicorn.error", "gunicorn.access")]
    saved = [(logger, logger.handlers[:], logger.level, logger.propagate) for logger in loggers]
    yield
    for logger, handlers, level, propagate in saved:
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate
    logging.captureWarnings(False)


def logging_app(**settings):
    """An app whose /log route writes a warning, and whose /fail route raises."""
    app = create_app({"PROPAGATE_EXCEPTIONS": False, **settings})

    @app.get("/log")
    def log():
        app.logger.warning("something to see")
        return "logged"

    @app.get("/fail")
    def fail():
        raise RuntimeError("an unhandled error")

    return app


def test_every_response_carries_a_new_request_id(client):
    first, second = (client.get("/").headers["X-Request-ID"] for _ in range(2))
    assert NEW_ID.fullmatch(first) and NEW_ID.fullmatch(second)
    assert first != second


def test_error_pages_carry_the_request_id_too(client):
    assert NEW_ID.fullmatch(client.get("/no/such/page").headers["X-Request-ID"])


def test_an_incoming_id_is_ignored_without_a_trusted_proxy(client):
    """Anyone can send the header: only a proxy the app trusts may choose the id."""
    response = client.get("/", headers={"X-Request-ID": "chosen-by-the-client"})
    assert NEW_ID.fullmatch(response.headers["X-Request-ID"])


@pytest.mark.settings(TRUSTED_PROXIES=1)
def test_the_trusted_proxy_id_is_kept(client):
    response = client.get("/", headers={"X-Request-ID": "0123456789abcdef0123456789abcdef"})
    assert response.headers["X-Request-ID"] == "0123456789abcdef0123456789abcdef"


@pytest.mark.settings(TRUSTED_PROXIES=1)
@pytest.mark.parametrize("bad", ["short", "x" * 129, "has spaces in it", 'quote"s-and-more'])
def test_a_malformed_incoming_id_is_replaced(client, bad):
    response = client.get("/", headers={"X-Request-ID": bad})
    assert NEW_ID.fullmatch(response.headers["X-Request-ID"])


def test_json_logs_are_one_object_a_line_with_the_request_id(restore_logging, capsys):
    client = logging_app(LOG_FORMAT="json").test_client()
    logged = client.get("/log").headers["X-Request-ID"]
    failed = client.get("/fail")
    assert failed.status_code == 500
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    warning, error = records
    assert warning["message"] == "something to see"
    assert (warning["level"], warning["request_id"]) == ("WARNING", logged)
    assert error["request_id"] == failed.headers["X-Request-ID"]
    assert error["level"] == "ERROR"
    assert "RuntimeError: an unhandled error" in error["exc_info"]  # the traceback, inside


def test_text_logs_show_the_request_id(restore_logging, capsys):
    client = logging_app(LOG_FORMAT="text").test_client()
    request_id = client.get("/log").headers["X-Request-ID"]
    line = f"WARNING {{ cookiecutter.project_slug }} [{request_id}] something to see"
    assert line in capsys.readouterr().out


def test_an_unknown_log_format_is_refused():
    with pytest.raises(RuntimeError, match="LOG_FORMAT='xml' is not one of: json, text"):
        create_app({"LOG_FORMAT": "xml"})


def access_record(path, status=200, request_id="0123456789abcdef0123456789abcdef"):
    """A record as Gunicorn's access logger makes it, from the atoms of one request."""
    # Gunicorn imports fcntl and pwd: on Windows (where it does not run) these tests skip.
    safe_atoms = pytest.importorskip("gunicorn.glogging", reason="Gunicorn runs on POSIX only")
    atoms = {"m": "GET", "U": path, "s": str(status), "D": 2500, "B": 123, "h": "127.0.0.1"}
    atoms["L"] = "0.002500"
    atoms["{request_id}e"] = request_id  # the WSGI environ's REQUEST_ID, set by the app
    args = (safe_atoms.SafeAtoms(atoms),)
    return logging.LogRecord(
        "gunicorn.access", logging.INFO, __file__, 0, ACCESS_LOG_FORMAT, args, None
    )


def test_gunicorn_access_records_get_their_own_fields():
    record = access_record("/users/1", 404)
    assert AccessFields().filter(record)
    assert record.getMessage() == "GET /users/1 404 0.002500s"
    fields = (record.request_id, record.method, record.path, record.status, record.duration_s)
    assert fields == ("0123456789abcdef0123456789abcdef", "GET", "/users/1", 404, 0.0025)


@pytest.mark.parametrize("probe", ["/healthz", "/readyz"])
def test_probes_get_no_access_log_line(probe):
    assert not AccessFields().filter(access_record(probe))


def test_the_version_matches_pyproject():
    """Sentry's release names this version: keep it in step with pyproject.toml."""
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert {{ cookiecutter.project_slug }}.__version__ == pyproject["project"]["version"]


@pytest.mark.parametrize("link", ["/auth/reset-password/", "/auth/verify/"])
def test_mailed_tokens_stay_out_of_the_access_log(link):
    record = access_record(link + "eyJpZCI6MX0.aBcD.eF-gh_1")
    assert AccessFields().filter(record)
    assert record.getMessage() == f"GET {link}- 200 0.002500s"
    assert record.path == link + "-"
