"""Mail through the job queue as production runs it: Gunicorn (the baked gunicorn.conf.py), the
baked `flask jobs worker`, Debian's redis-server with its append-only file on (as the compose
stacks run it) and a real SMTP server, all on loopback, started here and stopped by PID.

The faults of issue 22: the mail server down for 30 s, the worker SIGKILLed in the middle of a
mail, Redis restarted with mails queued, and a burst of 200 sign-ups. Visitors speak plain HTTP
to Gunicorn, each from its own loopback address (127.0.x.y), so no per-client limit counts two.
"""

import http.client
import json
import re
import secrets
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import pytest

import servers
from test_rate_limits import migrate, production_env

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.xdist_group("jobs")]

PASSWORD = "a quiet heron at dawn"
SMTP_DOWN = 30  # seconds, as the issue asks


@pytest.fixture(scope="module")
def traced_stack(bake_once, baked_python, tmp_path_factory):
    """(gunicorn, worker, redis, mailbox, collector): the web app and the worker share Redis
    and SMTP, and send their spans to an OTLP/HTTP receiver (traces on, as shipped)."""
    project = bake_once()
    folder = tmp_path_factory.mktemp("jobs")
    with servers.redis(persist=True) as redis, servers.smtp() as mailbox, servers.otlp() as otlp:
        env = production_env(
            project,
            folder,
            JOBS_REDIS_URL=redis.uri,
            MAIL_SERVER="127.0.0.1",
            MAIL_PORT=str(mailbox.port),
            SESSION_COOKIE_SECURE="0",  # plain HTTP to Gunicorn
            OTEL_EXPORTER_OTLP_ENDPOINT=otlp.endpoint,  # at the default sampling
            OTEL_BSP_SCHEDULE_DELAY="200",  # ms between exports (5 s by default)
        )
        migrate(project, baked_python, env)
        with (
            servers.gunicorn(project, baked_python, env, workers=2) as web,
            servers.worker(project, baked_python, env) as worker,
        ):
            yield web, worker, redis, mailbox, otlp


@pytest.fixture(scope="module")
def stack(traced_stack):
    """(gunicorn, worker, redis, mailbox)."""
    return traced_stack[:4]


def sign_up(web, name, address, traceparent=None):
    """GET the form and POST it from `address`; (seconds the POST took, its X-Request-ID).
    A `traceparent` goes with the POST, as from a proxy in front that traces."""

    def request(method, path, body=None, headers=None):
        connection = http.client.HTTPConnection(
            "127.0.0.1", web.port, timeout=30, source_address=(address, 0)
        )
        try:
            connection.request(method, path, body, headers or {})
            response = connection.getresponse()
            return response, response.read().decode()
        finally:
            connection.close()

    response, page = request("GET", "/auth/register")
    cookie = response.headers["Set-Cookie"].split(";")[0]
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)[1]
    form = {"csrf_token": token, "username": name, "email": f"{name}@example.com"}
    form |= {"password": PASSWORD, "confirm": PASSWORD}
    headers = {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}
    if traceparent:
        headers["traceparent"] = traceparent
    started = time.monotonic()
    response, _ = request("POST", "/auth/register", urlencode(form), headers)
    took = time.monotonic() - started
    assert response.status == 302, (name, response.status)
    return took, response.headers["X-Request-ID"]


def count(mailbox, name):
    return sum(f"{name}@example.com" in message["To"] for message in mailbox.messages)


def test_the_mail_leaves_from_the_worker(stack):
    web, worker, _, mailbox = stack
    sign_up(web, "ann", "127.0.9.1")
    mailbox.wait_for("ann@example.com", "verify your email address")
    (job,) = re.findall(r"queued job (\S+) \(deliver\)", web.log())
    assert job in worker.log()  # taken from the queue by the worker
    assert count(mailbox, "ann") == 1
    assert "ann@example.com" not in worker.log()  # nor the link: job arguments stay unlogged


def log_lines(log, **fields):
    """The JSON log lines (as dicts) with these values."""
    lines = (json.loads(line) for line in log.splitlines() if line.startswith("{"))
    return [line for line in lines if fields.items() <= line.items()]


def test_one_trace_from_the_sign_up_to_the_mail(traced_stack):
    """The request's span, its queries, the enqueue and the worker's mail: one trace, the
    mail's span a descendant of the request's; the request's and the job's log lines carry
    the trace id (Gunicorn's access line included).

    The sign-up comes with a sampled `traceparent`, as from a proxy that traces: the app keeps
    one trace in ten of its own (tracing.DEFAULT_SAMPLER), but follows its caller's decision."""
    web, worker, _, mailbox, otlp = traced_stack
    trace_id, caller = secrets.token_hex(16), secrets.token_hex(8)
    _, request_id = sign_up(web, "tia", "127.0.9.30", f"00-{trace_id}-{caller}-01")
    mailbox.wait_for("tia@example.com", "verify your email address")
    (access,) = log_lines(web.log(), request_id=request_id, logger="gunicorn.access")
    assert access["trace_id"] == trace_id
    (job_id,) = [
        line["message"].split()[2]
        for line in log_lines(web.log(), trace_id=trace_id)
        if line["message"].startswith("queued job")
    ]

    def whole(spans):
        names = {s.name for s in spans if s.trace_id == trace_id}
        return {"POST /auth/register", "smtp send"} <= names

    spans = {s.span_id: s for s in otlp.wait_for(whole) if s.trace_id == trace_id}
    (request,) = [s for s in spans.values() if s.name == "POST /auth/register"]
    assert request.service == "my_flask_app" and request.parent_id == caller

    def ancestors(span):
        while span.parent_id in spans:
            span = spans[span.parent_id]
            yield span

    queries = [s for s in spans.values() if "db.statement" in s.attributes]
    assert {"SELECT", "INSERT"} <= {s.name for s in queries}
    assert all(request in ancestors(s) for s in queries)
    (enqueue,) = [s for s in spans.values() if s.name == "enqueue deliver"]
    (job,) = [s for s in spans.values() if s.name == "run deliver"]
    (mail,) = [s for s in spans.values() if s.name == "smtp send"]
    assert job.service == mail.service == "my_flask_app-worker"
    assert list(ancestors(mail))[:3] == [job, enqueue, request]
    assert mail.attributes["server.port"] == mailbox.port
    in_job = log_lines(worker.log(), trace_id=trace_id)
    assert any(job_id in line["message"] for line in in_job), worker.log()[-3000:]
    assert all(
        line["request_id"] == request_id for line in log_lines(web.log(), trace_id=trace_id)
    )


def test_mail_waits_out_a_mail_server_that_is_down(stack):
    """Tries at 0, 10 and 40 s (jobs.RETRY): the third one, after the server is back."""
    web, worker, _, mailbox = stack
    mailbox.down()
    try:
        took, request_id = sign_up(web, "bea", "127.0.9.2")
        time.sleep(SMTP_DOWN)
    finally:
        mailbox.up()
    assert took < 5  # an answer, not an error page, while the mail server is down
    mailbox.wait_for("bea@example.com", seconds=45)
    failures = [line for line in worker.log().splitlines() if "failed" in line]
    assert any(request_id in line for line in failures), failures  # logged with its request
    assert count(mailbox, "bea") == 1


def test_a_mail_whose_worker_is_killed_midway_is_sent_after_a_restart(stack):
    """RQ gives the job back to the queue once the dead worker's heartbeat is 70 s old."""
    web, worker, _, mailbox = stack
    # The worker waits 8 s for the answer to RCPT TO (MAIL_TIMEOUT is 10 s): the kill lands
    # there, and a page that sent its mail itself would take those 8 s too.
    mailbox.hold = 8
    try:
        took, _ = sign_up(web, "cat", "127.0.9.3")
        deadline = time.monotonic() + 15
        while "cat@example.com" not in mailbox.asked and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "cat@example.com" in mailbox.asked, "the job never reached the mail server"
        worker.kill()
    finally:
        mailbox.hold = 0
    assert took < 5  # the page did not wait for the mail server
    assert count(mailbox, "cat") == 0  # the conversation died before DATA
    worker.start()
    mailbox.wait_for("cat@example.com", seconds=150)
    assert count(mailbox, "cat") == 1


def test_mails_queued_while_redis_restarts_are_all_sent(stack):
    """The worker is away, five mails wait in Redis, Redis restarts (append-only file on)."""
    web, worker, redis, mailbox = stack
    worker.stop()
    names = [f"dan{n}" for n in range(5)]
    for n, name in enumerate(names):
        sign_up(web, name, f"127.0.9.{10 + n}")
    assert int(redis.cli("LLEN", "rq:queue:default")) == 5
    redis.restart()
    assert int(redis.cli("LLEN", "rq:queue:default")) == 5
    worker.start()
    for name in names:
        mailbox.wait_for(f"{name}@example.com", seconds=30)
    assert [count(mailbox, name) for name in names] == [1] * 5


def test_a_burst_of_200_sign_ups_gives_200_mails(stack):
    """8 visitors at a time on 2 Gunicorn workers: pages wait for each other's password hash,
    never for a mail (the tests above show a page's time apart from the mail server's)."""
    web, _, _, mailbox = stack
    names = [f"eve{n}" for n in range(200)]
    addresses = [f"127.0.{10 + n // 200}.{1 + n % 200}" for n in range(200)]
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        took = [t for t, _ in pool.map(sign_up, [web] * 200, names, addresses)]
    pages_done = time.monotonic() - started
    for name in names:
        mailbox.wait_for(f"{name}@example.com", seconds=120)
    mails_done = time.monotonic() - started
    assert [count(mailbox, name) for name in names] == [1] * 200
    print(
        f"200 sign-ups: pages {pages_done:.1f} s (median {statistics.median(took) * 1000:.0f} ms,"
        f" max {max(took) * 1000:.0f} ms), all 200 mails after {mails_done:.1f} s"
    )
    assert max(took) < 10  # Gunicorn's queue under 8 at a time, on a busy machine
