"""Prometheus metrics on real parts: Debian's prometheus scrapes a baked app that runs under
its own gunicorn.conf.py with 4 workers (and its job worker, Redis and an SMTP server), all
on loopback, started here and stopped by PID.

The counters Prometheus holds equal the requests sent, summed over the 4 workers, also after
one worker is killed and Gunicorn replaces it, and after a reload (SIGHUP) replaces them all;
the public nginx site has no /metrics.
"""

import http.client
import os
import signal
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import servers
from test_jobs_e2e import sign_up
from test_rate_limits import migrate, production_env

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

WORKERS = 4
HOME_REQUESTS = 400  # bounded load: 4 clients, keep-alive off, a few seconds
LOGIN_REQUESTS = 100
AFTER_KILL = 100


@pytest.fixture(scope="module")
def stack(bake_once, baked_python, tmp_path_factory):
    """(gunicorn, nginx, prometheus, mailbox), the app's and the worker's metrics scraped."""
    project = bake_once()
    folder = tmp_path_factory.mktemp("metrics")
    web_metrics, jobs_metrics = servers.free_port(), servers.free_port()
    with servers.redis(persist=True) as redis, servers.smtp() as mailbox:
        env = production_env(
            project,
            folder,
            JOBS_REDIS_URL=redis.uri,
            MAIL_SERVER="127.0.0.1",
            MAIL_PORT=str(mailbox.port),
            SESSION_COOKIE_SECURE="0",  # plain HTTP to Gunicorn
        )
        migrate(project, baked_python, env)
        with (
            servers.gunicorn(
                project, baked_python, {**env, "METRICS_PORT": str(web_metrics)}, workers=WORKERS
            ) as web,
            servers.worker(project, baked_python, {**env, "JOBS_METRICS_PORT": str(jobs_metrics)}),
            servers.nginx(project, [web.address]) as front,
            servers.prometheus([f"127.0.0.1:{web_metrics}", f"127.0.0.1:{jobs_metrics}"]) as prom,
        ):
            yield web, front, prom, mailbox


def get(web, path, count):
    """GET `path` `count` times from 4 clients at once; every answer must be a 200."""

    def one(_):
        connection = http.client.HTTPConnection("127.0.0.1", web.port, timeout=30)
        try:
            connection.request("GET", path, headers={"Host": "localhost"})
            response = connection.getresponse()
            response.read()
            return response.status
        finally:
            connection.close()

    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(one, range(count)))
    assert statuses == [200] * count


def eventually(prom, expression, expected, seconds=20):
    """The value of `expression` once Prometheus has scraped `expected`, or the last seen."""
    deadline = time.monotonic() + seconds
    while True:
        values = list(prom.query(expression).values())
        value = values[0] if values else None
        if value == expected or time.monotonic() > deadline:
            return value
        time.sleep(0.5)


def requests_counted(route):
    return f'sum(app_http_requests_total{{route="{route}",method="GET",status="200"}})'


def test_counters_equal_the_requests_sent_after_a_worker_is_killed_and_a_reload(stack):
    web, _, prom, _ = stack
    get(web, "/", HOME_REQUESTS)
    get(web, "/auth/login", LOGIN_REQUESTS)
    assert eventually(prom, requests_counted("/"), HOME_REQUESTS) == HOME_REQUESTS
    assert eventually(prom, requests_counted("/auth/login"), LOGIN_REQUESTS) == LOGIN_REQUESTS
    # Spread over the workers, each counting in a file of its own, and summed by the master.
    files = counter_files(web)
    assert len(files) >= 2, files  # 4 clients at once: more than one worker served them
    assert len({os.path.dirname(path) for path in files}) == 1

    victim = servers.worker_pids(web.process.pid)[0]
    os.kill(victim, signal.SIGKILL)
    servers.wait_until(
        lambda: (
            len(servers.worker_pids(web.process.pid)) == WORKERS
            and victim not in servers.worker_pids(web.process.pid)
        ),
        "gunicorn's replacement worker",
    )
    get(web, "/", AFTER_KILL)
    total = HOME_REQUESTS + AFTER_KILL
    assert eventually(prom, requests_counted("/"), total) == total

    # A reload (systemctl reload: SIGHUP) replaces every worker and reads gunicorn.conf.py
    # again: the folder and the master's listener stay, and so do the counts.
    before = set(servers.worker_pids(web.process.pid))
    web.process.send_signal(signal.SIGHUP)
    servers.wait_until(
        lambda: (
            len(servers.worker_pids(web.process.pid)) == WORKERS
            and not before & set(servers.worker_pids(web.process.pid))
        ),
        "gunicorn's reload",
    )
    get(web, "/", AFTER_KILL)
    total += AFTER_KILL
    assert eventually(prom, requests_counted("/"), total) == total
    durations = 'sum(app_http_request_duration_seconds_count{route="/"})'
    assert eventually(prom, durations, total) == total


def counter_files(web):
    """The counter files the workers have mapped into memory (in gunicorn.conf.py's folder)."""
    files = set()
    for pid in servers.worker_pids(web.process.pid):
        for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
            path = line.split()[-1]
            if os.path.basename(path).startswith("counter_"):
                files.add(path)
    return files


def test_each_dependency_is_ready_and_the_queue_counted(stack):
    _, _, prom, _ = stack
    for check in ("app", "database", "jobs"):
        assert eventually(prom, f'app_ready{{check="{check}"}}', 1) == 1, check
    assert eventually(prom, 'app_jobs_failed{queue="default"}', 0) == 0


def test_the_mail_job_is_timed_by_the_worker(stack):
    web, _, prom, mailbox = stack
    sign_up(web, "metrics", "127.0.0.1")
    servers.wait_until(lambda: mailbox.messages, "the sign-up mail", seconds=30)
    finished = 'sum(app_jobs_total{outcome="finished"})'
    assert eventually(prom, finished, 1) == 1
    assert eventually(prom, "sum(app_job_duration_seconds_count)", 1) == 1


def test_the_public_site_has_no_metrics(stack):
    web, front, prom, _ = stack
    # The metrics ports answer Prometheus (`up` is 1 once scraped); the public site has none.
    assert eventually(prom, "sum(up)", 2) == 2, prom.targets()
    request = urllib.request.Request(f"{front.url}/metrics")
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(request, timeout=10, context=front.ssl_context())
    assert answer.value.code == 404
