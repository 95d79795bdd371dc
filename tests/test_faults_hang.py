"""The fault matrix of issue 32 on the real stack: a dependency that hangs or stops never takes
the site down.

One PostgreSQL + API bake, served as production serves it: the shipped gunicorn.conf.py with 4
sync workers behind the shipped nginx site (HTTPS), Redis (Debian's redis-server) for rate
limits and the job queue, the baked `flask jobs worker`, and an SMTP server, all on loopback
and shared by every case (they leave the stack as they found it). Each case breaks one
dependency (SIGSTOP: connections stay open and nothing answers; a clean stop; or slow: the
delaying proxy the app reaches it through holds each answer) while `wrk`
keeps a bounded load on GET / and a static file, and visitors log in and sign up from their
own loopback addresses (so no per-client limit counts two). Each prints its row of the matrix;
the module prints the whole table at the end (`pytest -s`), as docs/faults.md shows it.
"""

import contextlib
import http.client
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import pytest
import yaml

import servers
from conftest import clean_env
from test_load_faults import COUNTING_SCRIPT, finish_wrk

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("faults")]

WORKERS = 4
PASSWORD = "a quiet heron at dawn"
PAGES = ["/", "/static/style.css"]  # neither needs Redis, the database or mail
REDIS_TIMEOUT = 1  # the default; the settings below say it outright
# Seconds within which a page that needs the missing dependency must answer, far from
# Gunicorn's 30 s: a login hashes a password with scrypt (slow on purpose), four at once on
# this shared 2-core machine, and the first on each worker waits twice for a hung Redis.
CALM = 10
# Seconds within which /readyz must answer 503 and name the dependency, hung or stopped: its
# checks wait REDIS_TIMEOUT or half of DATABASE_TIMEOUT, and a loaded machine adds to that.
NAMED_WITHIN = 2
LOAD_SECONDS = 8
MATRIX = []  # (dependency, failure, what a visitor sees, recovery), printed at the end


@dataclass
class Stack:
    gunicorn: servers.Server
    nginx: servers.Nginx
    worker: servers.Worker
    redis: servers.Redis
    database: servers.PostgresProject
    mailbox: servers.Mailbox
    script: Path
    slow: dict  # the delaying proxy in front of each dependency, by name
    visitors: int = 1  # the last loopback address given to a visitor
    accounts: list = field(default_factory=list)

    def visitor(self):
        """A new visitor, from a loopback address of its own."""
        self.visitors += 1
        return Visitor(self.nginx, f"127.0.{self.visitors // 250}.{self.visitors % 250 + 2}")


class Visitor:
    """A browser of one: HTTPS to nginx from its own address, with a session cookie."""

    def __init__(self, nginx, address):
        self.nginx, self.address, self.cookie = nginx, address, None

    def request(self, method, path, form=None):
        """(status, body, seconds) of one request."""
        connection = http.client.HTTPSConnection(
            "localhost",
            self.nginx.port,
            context=self.nginx.ssl_context(),
            timeout=60,
            source_address=(self.address, 0),
        )
        headers = {"Referer": self.nginx.url + path}  # Flask-WTF checks it over HTTPS
        if self.cookie:
            headers["Cookie"] = self.cookie
        body = None
        if form is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            body = urlencode(form)
        started = time.monotonic()
        try:
            connection.request(method, path, body, headers)
            response = connection.getresponse()
            text = response.read().decode()
        finally:
            connection.close()
        cookie = response.headers.get("Set-Cookie")
        if cookie:
            self.cookie = cookie.split(";")[0]
        return response.status, text, time.monotonic() - started

    def post_form(self, path, **fields):
        """GET the form, then POST it with its CSRF token; (status, body, seconds of the POST)."""
        status, page, _ = self.request("GET", path)
        assert status == 200, (path, status)
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)[1]
        return self.request("POST", path, {"csrf_token": token, **fields})


def sign_up(stack, name):
    """(status, seconds, whether the page said the mail went) of one sign-up."""
    status, page, seconds = stack.visitor().post_form(
        "/auth/register",
        username=name,
        email=f"{name}@example.com",
        password=PASSWORD,
        confirm=PASSWORD,
    )
    return status, seconds


def log_in(stack, name="nobody", password="not the password"):
    status, page, seconds = stack.visitor().post_form(
        "/auth/login", username=name, password=password
    )
    return status, seconds


def readiness(stack):
    """(status, body, seconds) of /readyz through nginx."""
    return stack.visitor().request("GET", "/readyz")


@pytest.fixture(scope="module")
def stack(baked_python, tmp_path_factory):
    folder = tmp_path_factory.mktemp("faults")
    script = folder / "count.lua"
    script.write_text(COUNTING_SCRIPT)
    with (
        servers.postgres_project(baked_python, folder) as database,
        servers.redis(persist=True) as redis,
        servers.smtp() as mailbox,
        # Every dependency is reached through a proxy that passes bytes as they come (a
        # stopped or SIGSTOPped server behind it looks the same to the app) or late (slow).
        servers.proxy(database.server.port) as slow_database,
        servers.proxy(redis.port) as slow_redis,
        servers.proxy(mailbox.port) as slow_mail,
    ):
        redis_uri = f"redis://{slow_redis.address}/0"
        env = clean_env(
            APP_CONFIG="production",
            SECRET_KEY=secrets.token_hex(32),
            DATABASE_URL=database.url.replace(
                f":{database.server.port}/", f":{slow_database.port}/"
            ),
            TRUSTED_PROXIES="1",
            RATELIMIT_STORAGE_URI=redis_uri,
            JOBS_REDIS_URL=redis_uri,
            REDIS_TIMEOUT=str(REDIS_TIMEOUT),
            MAIL_SERVER="127.0.0.1",
            MAIL_PORT=str(slow_mail.port),
            MAIL_TIMEOUT="2",
            LOGIN_REQUIRES_VERIFIED_EMAIL="0",
        )
        project = database.project
        with (
            servers.gunicorn(project, baked_python, env, workers=WORKERS) as gunicorn,
            servers.nginx(project, [gunicorn.address]) as nginx,
            servers.worker(project, baked_python, env) as worker,
        ):
            slow = {"redis": slow_redis, "database": slow_database, "mail": slow_mail}
            yield Stack(gunicorn, nginx, worker, redis, database, mailbox, script, slow)
            log = gunicorn.log()
    assert "WORKER TIMEOUT" not in log
    print("\n| Dependency | Failure | What a visitor sees | Recovery |")
    print("|---|---|---|---|")
    for row in MATRIX:
        print("| " + " | ".join(row) + " |")


@contextlib.contextmanager
def under_load(stack, seconds=LOAD_SECONDS):
    """wrk on the pages that need no dependency for `seconds`, 8 connections; yields a dict
    that gets the Load when the block ends. A request may wait for a worker while all four are
    in a login that waits for Redis (2 x REDIS_TIMEOUT): wrk gives up after 10 s, not 5."""
    command = [servers.need("wrk"), "-t2", "-c8", f"-d{seconds}s", f"--timeout={CALM * 2}s"]
    command += ["-s", str(stack.script), stack.nginx.url, "--", *PAGES]
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    result = {}
    yield result
    result["load"] = finish_wrk(run, seconds)


def check_pages_held(load):
    assert load.requests > 0
    assert load.socket_errors == 0, load
    assert set(load.statuses) == {200}, load.statuses
    assert load.p99_ms < CALM * 1000, load


def wait_ready(stack, seconds=30):
    """Seconds until /readyz says 200 again."""
    started = time.monotonic()
    servers.wait_until(lambda: readiness(stack)[0] == 200, "/readyz to say 200", seconds=seconds)
    return time.monotonic() - started


def signal_all(pids, number):
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, number)


def test_redis_hung(stack):
    """The red team's replay: Redis SIGSTOPped, 4 logins in flight at once, GET / at 200."""
    with ThreadPoolExecutor(WORKERS) as pool:
        baseline = max(seconds for _, seconds in pool.map(lambda _: log_in(stack), range(WORKERS)))
    pid = stack.redis.process.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        with under_load(stack) as loaded, ThreadPoolExecutor(WORKERS + 2) as pool:
            time.sleep(0.5)
            logins = list(pool.map(lambda _: log_in(stack), range(WORKERS)))
            ready = readiness(stack)
            signup = sign_up(stack, "hungredis")
    finally:
        os.kill(pid, signal.SIGCONT)
    recovered = wait_ready(stack)
    load = loaded["load"]
    load.report("Redis hung")
    slowest = max(seconds for _, seconds in logins)
    print(f"4 logins at once with Redis up: {baseline:.1f} s at worst")
    print(f"logins {logins}; /readyz {ready[0]} in {ready[2]:.2f} s; sign-up {signup}")
    check_pages_held(load)
    assert {status for status, _ in logins} == {200}  # the form again: wrong password
    assert slowest < CALM
    assert ready[0] == 503 and '"redis":"unavailable"' in ready[1].replace(" ", "")
    assert ready[2] < NAMED_WITHIN
    assert signup[0] == 302 and signup[1] < CALM  # the account exists; the mail could not queue
    MATRIX.append(
        (
            "Redis",
            "hung (SIGSTOP)",
            f"GET / and static: {load.requests} x 200 (p99 {load.p99_ms / 1000:.1f} s); "
            f"4 logins at once {slowest:.1f} s at worst ({baseline:.1f} s with Redis up) "
            f"(limits count in memory); sign-up {signup[1]:.1f} s, told the mail did not go; "
            f"/readyz 503 in {ready[2]:.1f} s",
            f"/readyz 200 {recovered:.1f} s after SIGCONT",
        )
    )


def test_redis_stopped(stack):
    stack.redis.stop()
    try:
        with under_load(stack) as loaded:
            time.sleep(0.5)
            login = log_in(stack)
            ready = readiness(stack)
    finally:
        stack.redis.restart()  # its stop() is harmless when stopped: this starts it again
    recovered = wait_ready(stack)
    load = loaded["load"]
    load.report("Redis stopped")
    check_pages_held(load)
    assert login[0] == 200 and login[1] < CALM
    assert ready[0] == 503 and ready[2] < NAMED_WITHIN
    MATRIX.append(
        (
            "Redis",
            "stopped",
            f"GET / and static: {load.requests} x 200; login {login[1]:.1f} s; "
            f"/readyz 503 in {ready[2]:.1f} s",
            f"/readyz 200 {recovered:.1f} s after restart",
        )
    )


def test_postgres_stopped(stack):
    database = stack.database.server
    database.stop()
    try:
        with under_load(stack) as loaded:
            time.sleep(0.5)
            status, page, seconds = stack.visitor().request("GET", "/auth/login")
            ready = readiness(stack)
    finally:
        database.start()
    recovered = wait_ready(stack)
    load = loaded["load"]
    load.report("PostgreSQL stopped")
    check_pages_held(load)
    assert status in (200, 503) and seconds < CALM  # the form needs no query: 200
    assert ready[0] == 503 and '"database":"unavailable"' in ready[1].replace(" ", "")
    assert ready[2] < NAMED_WITHIN
    assert log_in(stack)[0] == 200  # queries again
    MATRIX.append(
        (
            "PostgreSQL",
            "stopped",
            f"GET / and static: {load.requests} x 200; pages that query: 503 page at once; "
            f"/readyz 503 in {ready[2]:.1f} s",
            f"/readyz 200 {recovered:.1f} s after start",
        )
    )


def postgres_pids(stack):
    """The postmaster (first line of postmaster.pid) and every backend and helper under it."""
    database = stack.database.server
    postmaster = int((database.data / "postmaster.pid").read_text().split()[0])
    return [postmaster, *servers.descendants(postmaster)]


def test_postgres_hung(stack):
    """Every PostgreSQL process SIGSTOPped: pooled connections stay open and nothing answers,
    new ones get no reply (the kernel completes the handshake). 4 logins at once, which query."""
    with ThreadPoolExecutor(WORKERS) as pool:  # every worker has a pooled connection open
        list(pool.map(lambda _: log_in(stack), range(2 * WORKERS)))
    pids = postgres_pids(stack)
    signal_all(pids, signal.SIGSTOP)
    try:
        with under_load(stack) as loaded, ThreadPoolExecutor(WORKERS) as pool:
            time.sleep(0.5)
            logins = list(pool.map(lambda _: log_in(stack), range(WORKERS)))
            ready = readiness(stack)
            again = log_in(stack)  # a worker whose pool already gave up
    finally:
        signal_all(pids, signal.SIGCONT)
    recovered = wait_ready(stack)
    load = loaded["load"]
    load.report("PostgreSQL hung")
    slowest = max(seconds for _, seconds in logins)
    print(f"logins {logins}, then {again}; /readyz {ready[0]} in {ready[2]:.2f} s")
    check_pages_held(load)
    assert {status for status, _ in logins} == {503} and slowest < CALM
    assert again[0] == 503 and again[1] < CALM
    assert ready[0] == 503 and '"database":"unavailable"' in ready[1].replace(" ", "")
    assert ready[2] < NAMED_WITHIN
    assert log_in(stack)[0] == 200  # queries again
    MATRIX.append(
        (
            "PostgreSQL",
            "hung (SIGSTOP)",
            f"GET / and static: {load.requests} x 200 (p99 {load.p99_ms / 1000:.1f} s); "
            f"4 logins at once: the 503 page in {slowest:.1f} s at worst, then "
            f"{again[1]:.1f} s; /readyz 503 in {ready[2]:.1f} s",
            f"/readyz 200 {recovered:.1f} s after SIGCONT",
        )
    )


def test_smtp_hung_a_mail_waits_in_the_queue(stack):
    """The mail server takes every connection and answers RCPT TO never (past MAIL_TIMEOUT):
    sign-up answers at once, the worker's try times out (logged as a timeout) and the retry,
    10 s later, delivers once the server answers again."""
    stack.mailbox.hold = 30
    try:
        with under_load(stack) as loaded:
            status, seconds = sign_up(stack, "hungsmtp")
            servers.wait_until(
                lambda: "hungsmtp@example.com" in stack.mailbox.asked, "the worker's try"
            )
            servers.wait_until(lambda: "timed out" in stack.worker.log(), "the try to time out")
    finally:
        stack.mailbox.hold = 0
    started = time.monotonic()
    stack.mailbox.wait_for("hungsmtp@example.com", seconds=40)
    delivered = time.monotonic() - started
    load = loaded["load"]
    load.report("SMTP hung")
    check_pages_held(load)
    assert status == 302 and seconds < CALM
    assert "please run connect() first" not in stack.worker.log()
    assert readiness(stack)[0] == 200  # mail is not a dependency of the site
    MATRIX.append(
        (
            "SMTP",
            "hung (never answers RCPT)",
            f"GET / and static: {load.requests} x 200; sign-up {seconds:.1f} s, "
            "the mail waits in the queue",
            f"mail delivered {delivered:.1f} s after the server answered (next retry)",
        )
    )


# Seconds each proxy holds every chunk a dependency sends back, well within its timeout: the
# site must slow down, never fail. (Past its timeout a slow dependency is a hung one.)
SLOW = {"redis": 0.2, "database": 0.2, "mail": 0.5}
SLOW_LOAD_SECONDS = 5  # as long as the slow case's requests take


@contextlib.contextmanager
def slowed(stack, name):
    stack.slow[name].delay = SLOW[name]
    try:
        yield
    finally:
        stack.slow[name].delay = 0


@pytest.mark.parametrize("dependency, name", [("redis", "Redis"), ("database", "PostgreSQL")])
def test_redis_or_postgres_slow(stack, dependency, name):
    username = f"slow{dependency}"
    login_up = log_in(stack)
    with under_load(stack, SLOW_LOAD_SECONDS) as loaded, slowed(stack, dependency):
        time.sleep(0.5)
        login = log_in(stack)
        signup = sign_up(stack, username)
        ready = readiness(stack)
    stack.mailbox.wait_for(f"{username}@example.com", seconds=40)  # queued, then delivered
    after = log_in(stack)
    load = loaded["load"]
    load.report(f"{name} slow")
    print(f"login {login} ({login_up} before, {after} after); sign-up {signup}; /readyz {ready}")
    check_pages_held(load)
    assert login[0] == 200 and login[1] < CALM
    assert signup[0] == 302 and signup[1] < CALM
    assert ready[2] < NAMED_WITHIN
    MATRIX.append(
        (
            name,
            f"slow (+{SLOW[dependency]:g} s per answer)",
            f"GET / and static: {load.requests} x 200; login {login[1]:.1f} s "
            f"({login_up[1]:.1f} s before); sign-up {signup[1]:.1f} s, its mail delivered; "
            f"/readyz {ready[0]} in {ready[2]:.1f} s",
            f"at once: login {after[1]:.1f} s after",
        )
    )


def test_smtp_slow(stack):
    with under_load(stack, SLOW_LOAD_SECONDS) as loaded, slowed(stack, "mail"):
        status, seconds = sign_up(stack, "slowsmtp")
        started = time.monotonic()
        stack.mailbox.wait_for("slowsmtp@example.com", seconds=40)
        delivered = time.monotonic() - started
        ready = readiness(stack)
    load = loaded["load"]
    load.report("SMTP slow")
    check_pages_held(load)
    assert status == 302 and seconds < CALM
    assert ready[0] == 200
    MATRIX.append(
        (
            "SMTP",
            f"slow (+{SLOW['mail']:g} s per reply)",
            f"GET / and static: {load.requests} x 200; sign-up {seconds:.1f} s; "
            f"the mail delivered {delivered:.1f} s after sign-up",
            "at once",
        )
    )


def flask_jobs(stack, *args):
    """`flask jobs ...` with the worker's environment: (exit code, output)."""
    worker = stack.worker
    done = subprocess.run(
        [*worker.command[:-1], *args],
        cwd=worker.project,
        env=worker.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.returncode, done.stdout + done.stderr


def test_a_refused_mail_fails_at_once_with_the_server_reply(stack):
    stack.mailbox.refused.add("refused@example.com")
    status, _ = sign_up(stack, "refused")
    assert status == 302
    servers.wait_until(
        lambda: "refused" in flask_jobs(stack, "failed")[1], "the job in the failed registry"
    )
    code, listed = flask_jobs(stack, "failed")
    assert "mail server refused: 550 5.1.1 no such mailbox here" in listed
    assert stack.mailbox.asked.count("refused@example.com") == 1  # tried once, no retry
    failures = [line for line in stack.worker.log().splitlines() if "mail server refused" in line]
    assert len([line for line in failures if "no tries left" in line]) == 1  # the app's line
    assert not any("more tries" in line for line in failures)  # and RQ's, with the same cause


@pytest.mark.parametrize("args", [["retry", "no-such-job"], ["retry"]])
def test_flask_jobs_answers_bad_input_with_one_line(stack, args):
    code, output = flask_jobs(stack, *args)
    assert code != 0
    assert "Traceback" not in output
    assert len([line for line in output.splitlines() if line.strip()]) <= 3, output


def test_the_workers_health_check_is_cheap_beside_two_busy_processes(stack):
    """The check the deployment files run (compose, Swarm, Kubernetes): the age of the file the
    worker touches at each heartbeat. `flask jobs check`, which starts the whole app, is timed
    beside it for the record."""
    compose = yaml.safe_load((stack.worker.project / "compose.prod.yaml").read_text())
    shell, check = compose["services"]["worker"]["healthcheck"]["test"]
    assert shell == "CMD-SHELL"
    heartbeat = Path(re.search(r"find (\S+)", check)[1])
    servers.wait_until(heartbeat.exists, "the worker's first heartbeat")
    busy = [subprocess.Popen([sys.executable, "-c", "while 1: pass"]) for _ in range(2)]
    try:
        times = []
        for _ in range(5):
            started = time.monotonic()
            done = subprocess.run(["sh", "-c", check], capture_output=True, timeout=30)
            times.append(time.monotonic() - started)
            assert done.returncode == 0, done
        started = time.monotonic()
        code, output = flask_jobs(stack, "check")
        flask_check = time.monotonic() - started
    finally:
        for process in busy:
            servers.stop_process(process)
    print(
        f"\nbeside two busy processes: the heartbeat check {max(times) * 1000:.0f} ms at worst "
        f"of 5, `flask jobs check` {flask_check:.2f} s"
    )
    assert code == 0 and max(times) < 1
    # A worker that stopped beating two minutes ago is not alive.
    old = time.time() - 120
    os.utime(heartbeat, (old, old))
    assert subprocess.run(["sh", "-c", check], timeout=30).returncode != 0
