"""The login rate limit as production runs it: one count per client, shared by every worker.

A real redis-server holds the counters (RATELIMIT_STORAGE_URI), Gunicorn runs the baked
gunicorn.conf.py with several workers, and visitors reach it through the baked nginx site, each
from its own loopback address (127.0.0.2, 127.0.0.3, ...: Linux routes all of 127/8 to lo), the
way browsers on different machines would, over HTTPS with the site's test certificate trusted
and the session cookie Secure, as shipped. A second nginx plays a load balancer in front of it.
"""

import contextlib
import http.client
import re
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest

import servers
from conftest import clean_env

# One xdist worker runs them all, so the module's servers start once.
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("rate_limits")]

LIMIT = 10  # Config.LOGIN_RATE_LIMIT, checked against the baked config below
ATTEMPTS = 25  # more than twice the limit, so counting in each of 4 workers apart would show


@dataclass
class Site:
    front: servers.Nginx  # where visitors connect (url, ssl_context): nginx or the balancer
    gunicorn: servers.Server


@pytest.fixture(scope="module")
def project(bake_once):
    project = bake_once()
    config = (project / project.name / "config.py").read_text()
    assert f'LOGIN_RATE_LIMIT = "{LIMIT} per minute"' in config
    return project


@pytest.fixture(scope="module")
def redis_server():
    with servers.redis() as server:
        yield server


def production_env(project, folder, **settings):
    """A production environment with its own migrated SQLite database."""
    return clean_env(
        APP_CONFIG="production",
        SECRET_KEY=secrets.token_hex(32),
        DATABASE_URL=f"sqlite:///{folder / 'app.sqlite'}",
        **settings,
    )


def migrate(project, baked_python, env):
    upgrade = subprocess.run(
        [str(Path(baked_python).parent / "flask"), "db", "upgrade"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert upgrade.returncode == 0, upgrade.stderr


@contextlib.contextmanager
def behind_nginx(project, baked_python, folder, workers, **settings):
    """Gunicorn with `workers` workers behind the baked nginx site; yields the Site."""
    env = production_env(project, folder, **settings)
    migrate(project, baked_python, env)
    with (
        servers.gunicorn(project, baked_python, env, workers=workers) as app,
        servers.nginx(project, [app.address]) as nginx,
    ):
        yield Site(nginx, app)


@pytest.fixture(scope="module")
def site(project, baked_python, redis_server, tmp_path_factory):
    """The production path of compose.prod.yaml: nginx, Gunicorn with 4 workers, Redis."""
    folder = tmp_path_factory.mktemp("site")
    with behind_nginx(
        project,
        baked_python,
        folder,
        workers=4,
        TRUSTED_PROXIES="1",
        RATELIMIT_STORAGE_URI=redis_server.uri,
    ) as site:
        yield site


class Visitor:
    """A browser on its own address: speaks HTTPS trusting the site's certificate, keeps its
    session cookie, fills in the form's CSRF token and sends the form's page as Referer
    (Flask-WTF checks it over HTTPS)."""

    def __init__(self, site, address):
        self.url = site.front.url
        parts = urlsplit(self.url)
        assert parts.scheme == "https", self.url  # the session cookie is Secure
        self.host, self.port = parts.hostname, parts.port
        self.context = site.front.ssl_context()
        self.address = address
        self.cookies = {}  # name: "name=value", as a browser keeps them for this site
        self.headers = None  # the last response's
        self.token = None

    def request(self, method, path, form=None, headers=None, referer=None, body=None):
        """Send one request on a fresh connection from this visitor's address; (status, body).

        `form` is sent urlencoded; `body` (such as JSON) as it is, with the caller's headers."""
        connection = http.client.HTTPSConnection(
            self.host,
            self.port,
            timeout=10,
            source_address=(self.address, 0),
            context=self.context,
        )
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(self.cookies.values())
        if referer:
            headers["Referer"] = f"{self.url}{referer}"
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            connection.request(method, path, body, headers)
            response = connection.getresponse()
            text = response.read().decode()
        finally:
            connection.close()
        self.headers = response.headers
        for value in response.headers.get_all("Set-Cookie") or []:
            assert "; Secure" in value, value  # as shipped: a browser sends them over HTTPS only
            pair = value.split(";", 1)[0]
            name = pair.split("=", 1)[0]
            if "Max-Age=0" in value or "Expires=Thu, 01 Jan 1970" in value:
                self.cookies.pop(name, None)  # deleted
            else:
                self.cookies[name] = pair
        return response.status, text

    def log_in_wrongly(self, headers=None):
        """One login attempt with a wrong password, from the login form; returns the status."""
        if self.token is None:
            status, page = self.request("GET", "/auth/login")
            assert status == 200, status
            self.read_token(page)
        # A name of its own: one account's wrong passwords are limited from every client together.
        name = f"nobody-{self.address}"
        form = {"csrf_token": self.token, "username": name, "password": "wrong"}
        status, page = self.request("POST", "/auth/login", form, headers, referer="/auth/login")
        if status == 200:  # the form again, with the error: the next attempt starts there
            assert "Invalid username or password." in page
            self.read_token(page)
        return status

    def read_token(self, page):
        self.token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)[1]


def allowed(statuses):
    """How many attempts the site let through (answered, not refused with 429)."""
    assert set(statuses) <= {200, 429}, statuses
    return statuses.count(200)


def test_four_workers_allow_exactly_the_limit_in_total(site):
    visitor = Visitor(site, "127.0.0.2")
    statuses = [visitor.log_in_wrongly() for _ in range(ATTEMPTS)]
    assert allowed(statuses) == LIMIT
    assert statuses == [200] * LIMIT + [429] * (ATTEMPTS - LIMIT)
    assert "memory://" not in site.gunicorn.log()  # no warning: the storage is shared


def test_two_clients_behind_the_same_proxy_have_separate_counters(site):
    first, second = Visitor(site, "127.0.0.3"), Visitor(site, "127.0.0.4")
    assert allowed([first.log_in_wrongly() for _ in range(LIMIT + 2)]) == LIMIT
    assert allowed([second.log_in_wrongly() for _ in range(LIMIT + 2)]) == LIMIT


def test_a_client_cannot_dodge_its_counter_with_x_forwarded_for(site):
    visitor = Visitor(site, "127.0.0.5")
    # Each attempt claims another address: nginx appends the real one, which the app believes.
    statuses = [
        visitor.log_in_wrongly({"X-Forwarded-For": f"203.0.113.{n}"}) for n in range(ATTEMPTS)
    ]
    assert allowed(statuses) == LIMIT
    # Nor reset it by claiming, once limited, to be a fresh address or the proxy itself.
    for claimed in ["198.51.100.7", "127.0.0.1", "127.0.0.6, 127.0.0.6"]:
        assert visitor.log_in_wrongly({"X-Forwarded-For": claimed}) == 429


@pytest.fixture(scope="module")
def balanced_site(project, baked_python, redis_server, tmp_path_factory):
    """A load balancer in front of nginx: two proxies, TRUSTED_PROXIES=2.

    Visitors speak HTTPS to the balancer, which ends their TLS and opens its own to nginx:
    with the session cookie Secure, a browser speaking plain HTTP to it would never send the
    cookie back, and a balancer would have to claim https in X-Forwarded-Proto falsely."""
    folder = tmp_path_factory.mktemp("balanced")
    with (
        behind_nginx(
            project,
            baked_python,
            folder,
            workers=2,
            TRUSTED_PROXIES="2",
            RATELIMIT_STORAGE_URI=redis_server.uri,
        ) as site,
        servers.balancer(site.front) as balancer,
    ):
        yield Site(balancer, site.gunicorn)


def test_behind_a_load_balancer_each_client_keeps_its_own_counter(balanced_site):
    first, second = Visitor(balanced_site, "127.0.0.7"), Visitor(balanced_site, "127.0.0.8")
    forged = {"X-Forwarded-For": "127.0.0.8"}  # the first visitor pretends to be the second
    assert allowed([first.log_in_wrongly(forged) for _ in range(LIMIT + 2)]) == LIMIT
    assert allowed([second.log_in_wrongly() for _ in range(LIMIT + 2)]) == LIMIT


def test_logins_stay_limited_and_answered_while_redis_is_down(project, baked_python, tmp_path):
    """Each worker counts in its own memory until Redis is back: no 500, still a limit."""
    with (
        servers.redis() as redis,
        behind_nginx(
            project,
            baked_python,
            tmp_path,
            workers=1,
            TRUSTED_PROXIES="1",
            RATELIMIT_STORAGE_URI=redis.uri,
        ) as site,
    ):
        visitor = Visitor(site, "127.0.0.9")
        assert visitor.log_in_wrongly() == 200
        redis.stop()
        statuses = [visitor.log_in_wrongly() for _ in range(LIMIT + 5)]
    assert statuses == [200] * LIMIT + [429] * 5  # the one worker's fresh count in memory


def test_gunicorn_warns_at_start_when_workers_count_apart(project, baked_python, tmp_path):
    env = production_env(project, tmp_path)
    migrate(project, baked_python, env)
    with servers.gunicorn(project, baked_python, env, workers=2) as app:
        log = app.log()
    assert "RATELIMIT_STORAGE_URI is memory:// with 2 workers" in log
