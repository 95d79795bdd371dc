"""Under load and faults the production stack keeps answering: nginx, Gunicorn, PostgreSQL.

Everything runs on loopback and is bounded: `wrk` drives a few seconds of traffic at 64
connections through nginx to Gunicorn (4 sync workers) while a test kills a worker, stops
Gunicorn or restarts PostgreSQL. Each run prints its figures; `pytest -s` shows them.
After every test, the logs are checked: each line Gunicorn wrote is one JSON object (no bare
tracebacks), and each request nginx and Gunicorn logged has a request id, a status and a duration.
"""

import contextlib
import json
import os
import re
import secrets
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

import servers
from conftest import clean_env

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("load")]  # one server set at a time

SLUG = "my_flask_app"
WORKERS = 4
CONNECTIONS = 64
PAGES = ["/", "/hello/load", "/healthz", "/users/1"]  # /users/1 queries the database: 404
DATABASE_PAGES = ["/readyz", "/users/1"]
PROBES = {"/healthz", "/readyz"}  # neither nginx nor Gunicorn logs them
REQUEST_ID = re.compile(r"[0-9a-f]{32}")  # nginx's $request_id

# wrk's Lua hooks: cycle through the paths given after `--`, count answers by status and
# print one RESULT line that the test parses.
COUNTING_SCRIPT = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) paths, turn, statuses = args, 0, {} end
function request()
  turn = turn % #paths + 1
  return wrk.format("GET", paths[turn])
end
function response(status) statuses[status] = (statuses[status] or 0) + 1 end
function done(summary, latency)
  local counts = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      table.insert(counts, status .. "=" .. count)
    end
  end
  local e = summary.errors
  print(string.format("RESULT %d %d %.3f %s", summary.requests,
    e.connect + e.read + e.write + e.timeout, latency:percentile(99) / 1000,
    table.concat(counts, ",")))
end
"""


@dataclass
class Load:
    """What one wrk run saw."""

    requests: int
    socket_errors: int  # connect, read, write and timeout errors
    p99_ms: float
    statuses: Counter

    @property
    def server_errors(self):
        return sum(count for status, count in self.statuses.items() if status >= 500)

    @property
    def failed(self):
        return self.socket_errors + self.server_errors

    def report(self, title):
        print(
            f"\n{title}: {self.requests} requests, {self.socket_errors} socket errors, "
            f"{self.server_errors} 5xx, p99 {self.p99_ms:.1f} ms, "
            f"statuses {dict(sorted(self.statuses.items()))}"
        )


def start_wrk(url, paths, seconds, script, connections=CONNECTIONS):
    """wrk in the background; finish_wrk() collects its figures."""
    command = [servers.need("wrk"), "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout=5s"]
    command += ["-s", str(script), url, "--", *paths]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish_wrk(process, seconds):
    """Wait for a wrk run (bounded) and parse its RESULT line."""
    try:
        output, _ = process.communicate(timeout=seconds + 30)
    finally:
        servers.stop_process(process)
    line = next((line for line in output.splitlines() if line.startswith("RESULT ")), None)
    assert line, f"wrk printed no result:\n{output}"
    requests, socket_errors, p99_ms, *counts = line.split()[1:]
    statuses = Counter()
    for pair in counts[0].split(",") if counts else []:
        status, count = pair.split("=")
        statuses[int(status)] += int(count)
    return Load(int(requests), int(socket_errors), float(p99_ms), statuses)


def run_wrk(url, paths, seconds, script, connections=CONNECTIONS):
    return finish_wrk(start_wrk(url, paths, seconds, script, connections), seconds)


def get(url, context=None):
    """(status, seconds taken) of a GET; error statuses are answers too."""
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=30, context=context) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    return status, time.monotonic() - started


@pytest.fixture(scope="module")
def database(baked_python, tmp_path_factory):
    """A baked PostgreSQL project, migrated, with its own throwaway cluster."""
    with servers.postgres_project(baked_python, tmp_path_factory.mktemp("load")) as baked:
        yield baked


@dataclass
class Stack:
    gunicorn: servers.Server
    nginx: servers.Server
    script: Path


def json_lines(text, source):
    """Each line of a log as a JSON object; fails on the first line that is not one."""
    records = []
    for line in text.splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"{source} wrote a line that is not JSON: {line!r}") from None
    return records


@dataclass
class Logs:
    """What nginx and Gunicorn logged for the requests of one test."""

    nginx: list  # nginx's access records
    app: list  # every record Gunicorn's stdout and stderr got: the app's and its access log's

    @property
    def app_access(self):
        return [record for record in self.app if record["logger"] == "gunicorn.access"]


def read_logs(stack):
    """Both logs, checked: one JSON object a line, and every request with an id, status, time."""
    site_log = stack.nginx.log_path.parent / "site-access.log"
    logs = Logs(
        json_lines(servers.read(site_log), "nginx"), json_lines(stack.gunicorn.log(), "gunicorn")
    )
    for source, records in (("nginx", logs.nginx), ("gunicorn", logs.app_access)):
        for record in records:
            assert REQUEST_ID.fullmatch(record["request_id"]), (source, record)
            assert isinstance(record["status"], int), (source, record)
            assert isinstance(record["duration_s"], int | float), (source, record)
            assert record["path"] not in PROBES, (source, record)
    return logs


def probe(nginx, path):
    """(status, X-Request-ID) of a GET through nginx, trusting its certificate."""
    try:
        with urllib.request.urlopen(
            nginx.url + path, timeout=30, context=nginx.ssl_context()
        ) as response:
            return response.status, response.headers["X-Request-ID"]
    except urllib.error.HTTPError as error:
        return error.code, error.headers["X-Request-ID"]


@contextlib.contextmanager
def serve(database, baked_python, tmp_path, **settings):
    """Gunicorn in production mode behind nginx; their logs are checked afterwards."""
    env = clean_env(
        APP_CONFIG="production",
        SECRET_KEY=secrets.token_hex(32),
        DATABASE_URL=database.url,
        TRUSTED_PROXIES="1",
        **settings,
    )
    script = tmp_path / "count.lua"
    script.write_text(COUNTING_SCRIPT)
    with (
        servers.gunicorn(database.project, baked_python, env, workers=WORKERS) as gunicorn,
        servers.nginx(database.project, [gunicorn.address]) as nginx,
    ):
        stack = Stack(gunicorn, nginx, script)
        yield stack
        read_logs(stack)


@pytest.fixture
def stack(database, baked_python, tmp_path):
    """The stack, fresh for each test."""
    with serve(database, baked_python, tmp_path) as stack:
        yield stack


def test_load_through_nginx_gives_no_errors(stack):
    load = run_wrk(stack.nginx.url, PAGES, 3, stack.script)
    load.report(f"{CONNECTIONS} connections for 3 s through nginx")
    assert load.requests > 0
    assert load.socket_errors == 0
    assert load.server_errors == 0
    assert set(load.statuses) <= {200, 404}, load.statuses


def test_nginx_and_the_app_log_each_request_with_the_same_id(stack):
    load = run_wrk(stack.nginx.url, PAGES, 2, stack.script)

    def nginx_logged_all_that_gunicorn_did():
        # nginx logs a request wrk gave up on (499) only after Gunicorn has answered it.
        logs = read_logs(stack)
        return {r["request_id"] for r in logs.app_access} <= {r["request_id"] for r in logs.nginx}

    servers.wait_until(nginx_logged_all_that_gunicorn_did, "nginx's log", seconds=10)
    logs = read_logs(stack)
    nginx = {record["request_id"]: record for record in logs.nginx}
    app = {record["request_id"]: record for record in logs.app_access}
    print(f"\n{load.requests} requests: {len(nginx)} nginx and {len(app)} Gunicorn access lines")
    assert len(nginx) == len(logs.nginx) and len(app) == len(logs.app_access)  # ids unique
    probes = sum(load.requests // len(PAGES) for path in PAGES if path in PROBES)
    assert len(nginx) >= load.requests - probes - CONNECTIONS  # wrk counts only what finished
    # Every request Gunicorn served came through nginx with the same id; every one nginx did
    # not give up on (499: wrk closed its connection at the end) reached Gunicorn, and both
    # logged the same status for it.
    answered = {request_id for request_id, record in nginx.items() if record["status"] != 499}
    assert set(app) <= set(nginx)
    assert answered <= set(app)
    assert all(app[request_id]["status"] == nginx[request_id]["status"] for request_id in answered)
    assert {record["path"] for record in logs.nginx} == set(PAGES) - PROBES


def test_a_killed_worker_is_replaced_and_the_service_keeps_answering(stack):
    master = stack.gunicorn.process.pid
    before = servers.worker_pids(master)
    assert len(before) == WORKERS
    run = start_wrk(stack.nginx.url, PAGES, 6, stack.script)
    time.sleep(2)
    os.kill(before[0], signal.SIGKILL)
    load = finish_wrk(run, 6)
    load.report("SIGKILL to one of 4 workers during 6 s of load")
    print(f"failed requests: {load.failed}")
    servers.wait_until(
        lambda: len(servers.worker_pids(master)) == WORKERS, "the master to replace the worker"
    )
    assert before[0] not in servers.worker_pids(master)
    assert stack.gunicorn.process.poll() is None
    # A sync worker serves one request at a time: at most that one can be lost.
    assert load.failed <= 1
    assert set(load.statuses) <= {200, 404, 502}, load.statuses
    assert get(f"{stack.nginx.url}/healthz", stack.nginx.ssl_context())[0] == 200


def lock_count(server, condition):
    """How many locks in the project's database match an SQL condition on pg_locks."""
    return int(server.psql(f"SELECT count(*) FROM pg_locks WHERE {condition}", SLUG))


def test_sigterm_to_the_master_lets_the_request_in_flight_finish(stack, database):
    # A transaction holding a lock on the user table keeps /users/1 inside its query for 3 s.
    hold = 'BEGIN; LOCK TABLE "user" IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(3); COMMIT;'
    held = "relation = '\"user\"'::regclass AND mode = 'AccessExclusiveLock' AND granted"
    with ThreadPoolExecutor(2) as pool:
        holder = pool.submit(database.server.psql, hold, SLUG)
        servers.wait_until(lambda: lock_count(database.server, held) == 1, "the lock")
        in_flight = pool.submit(get, f"{stack.nginx.url}/users/1", stack.nginx.ssl_context())
        servers.wait_until(
            lambda: lock_count(database.server, "NOT granted") == 1, "the request to wait"
        )
        assert not in_flight.done()
        signalled = time.monotonic()
        stack.gunicorn.process.send_signal(signal.SIGTERM)
        status, seconds = in_flight.result(timeout=30)
        exit_code = stack.gunicorn.process.wait(30)
        stopped = time.monotonic() - signalled
        holder.result(timeout=30)
    print(
        f"\nSIGTERM with a request in flight: it answered {status} after {seconds:.2f} s; "
        f"the master exited {exit_code} {stopped:.2f} s after the signal"
    )
    assert status == 404  # the query finished: there is no user 1
    assert exit_code == 0


def test_the_app_answers_again_after_postgres_restarts_during_load(stack, database):
    run = start_wrk(stack.nginx.url, DATABASE_PAGES, 7, stack.script)
    time.sleep(2)
    database.server.stop()
    try:
        readiness, request_id = probe(stack.nginx, "/readyz")
        liveness, _ = probe(stack.nginx, "/healthz")
        time.sleep(1)
    finally:  # back up even if a probe fails: the module's other tests share this database
        database.server.start()
    during = finish_wrk(run, 7)
    during.report("PostgreSQL down for 1 s during 7 s of load")
    after = run_wrk(stack.nginx.url, DATABASE_PAGES, 2, stack.script)
    after.report("the 2 s after, same Gunicorn")
    assert stack.gunicorn.process.poll() is None
    assert during.socket_errors == 0  # while the database was down the app said so
    assert after.failed == 0
    assert set(after.statuses) == {200, 404}
    assert (readiness, liveness) == (503, 200)  # not ready, but alive: no restart needed
    # The outage is in the logs as records (read_logs: no bare traceback), the probe's with its id.
    warnings = [record for record in read_logs(stack).app if record["level"] == "WARNING"]
    not_ready = {"level": "WARNING", "message": "not ready: database unavailable"}
    assert {**not_ready, "request_id": request_id}.items() <= next(
        (record for record in warnings if record.get("request_id") == request_id), {}
    ).items()
    assert any(record["message"].startswith("database unavailable") for record in warnings)


def test_pooled_connections_survive_a_quiet_postgres_restart(stack, database):
    # Every worker holds a pooled connection; the restart breaks them all while no request
    # runs. pool_pre_ping must notice on the next checkout: not one request may fail.
    warm = run_wrk(stack.nginx.url, ["/users/1"], 1, stack.script, connections=WORKERS * 2)
    assert warm.failed == 0
    database.server.stop()
    database.server.start()
    after = run_wrk(stack.nginx.url, ["/users/1"], 2, stack.script, connections=WORKERS * 2)
    after.report("first requests after a quiet PostgreSQL restart")
    assert after.requests > WORKERS
    assert after.failed == 0
    assert set(after.statuses) == {404}


def test_an_unhandled_error_reaches_sentry_with_the_request_id_nginx_gave(
    database, baked_python, tmp_path
):
    # A table that went missing is a bug (500), not an outage (503): Sentry should hear of it.
    with (
        servers.sentry() as sentry,
        serve(database, baked_python, tmp_path, SENTRY_DSN=sentry.dsn) as stack,
    ):
        database.server.psql('ALTER TABLE "user" RENAME TO hidden_user', SLUG)
        try:
            status, request_id = probe(stack.nginx, "/users/1")
        finally:
            database.server.psql('ALTER TABLE hidden_user RENAME TO "user"', SLUG)
        servers.wait_until(lambda: sentry.events, "the event to reach Sentry", seconds=15)
        logs = read_logs(stack)
    assert status == 500
    assert REQUEST_ID.fullmatch(request_id)
    (event,) = (event for event in sentry.events if "exception" in event)
    assert event["tags"]["request_id"] == request_id
    assert event["exception"]["values"][-1]["type"] == "ProgrammingError"
    assert (event["environment"], event["release"]) == ("production", f"{SLUG}@0.1.0")
    assert set(sentry.paths) == {"/api/1/envelope/"}
    # nginx made the id; the app's error record and both access lines carry it.
    (error,) = (record for record in logs.app if record["level"] == "ERROR")
    assert error["request_id"] == request_id and "ProgrammingError" in error["exc_info"]
    for access in (logs.nginx, logs.app_access):
        assert [r["status"] for r in access if r["request_id"] == request_id] == [500]
