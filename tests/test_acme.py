"""ACME on the systemd + nginx path, against Pebble (Let's Encrypt's test server) on loopback.

As docs/certificates.md tells a person: the site runs with the trial self-signed certificate,
deploy/certificate.sh gets a certificate for its name through the running nginx (http-01 from
the site's webroot on port 80, which Pebble checks), and nginx serves it; then a renewal, as
certbot's timer runs it (`certbot renew`, forced: Pebble's certificates last years), reloads
nginx through the saved deploy hook while clients keep asking: none of them may fail.
Everything runs on 127.0.0.1; certbot's folders are temporary ones (its cli.ini under
XDG_CONFIG_HOME names the work and log folders, as a user's may).
"""

import contextlib
import http.client
import secrets
from dataclasses import dataclass

import pytest

import servers
from acme import Certbot, issue_serve_and_renew_under_load
from conftest import clean_env

pytestmark = pytest.mark.e2e


@dataclass
class Site:
    nginx: servers.Nginx
    certbot: Certbot


@pytest.fixture(scope="module")
def site(bake_once, baked_python, tmp_path_factory):
    servers.need("nginx", *servers.SBIN)
    servers.need("certbot")
    project = bake_once(use_nginx=True)
    with contextlib.ExitStack() as stack:
        env = clean_env(SECRET_KEY=secrets.token_hex(32), DATABASE_URL="sqlite://")
        app = stack.enter_context(servers.gunicorn(project, baked_python, env, workers=1))
        nginx = stack.enter_context(servers.nginx(project, [app.address]))
        pebble = stack.enter_context(servers.pebble(nginx.http_port))
        # The script's settings: where this nginx keeps its files, how it reloads.
        settings = {
            "CERTBOT_DIR": str(nginx.certificates),
            "ACME_WEBROOT": str(nginx.webroot),
            "ACME_RELOAD": f"kill -HUP {nginx.process.pid}",  # what `nginx -s reload` sends
        }
        folder = tmp_path_factory.mktemp("certbot")
        certbot = Certbot(project, pebble, folder, settings, clean_env(),
                          logs_of=(("nginx", nginx.log_path),))  # fmt: skip
        yield Site(nginx, certbot)


def test_certificate_is_issued_served_and_renewed_without_a_failed_request(site):
    load = issue_serve_and_renew_under_load(site.certbot, site.nginx.port)
    print(f"renewal under load: {sum(load.served)} served, 0 failed, {len(load.retried)} resent")


def test_the_check_is_answered_on_port_80_and_everything_else_redirected(site):
    token = secrets.token_urlsafe(16)
    challenge = site.nginx.webroot / ".well-known" / "acme-challenge"
    challenge.mkdir(parents=True, exist_ok=True)
    (challenge / token).write_text("proof")
    connection = http.client.HTTPConnection("localhost", site.nginx.http_port, timeout=10)
    try:
        connection.request("GET", f"/.well-known/acme-challenge/{token}")
        answer = connection.getresponse()
        assert (answer.status, answer.read()) == (200, b"proof")
        assert answer.headers["Content-Type"] == "text/plain"
        connection.request("GET", "/auth/login")
        answer = connection.getresponse()
        answer.read()
        location = f"https://localhost:{site.nginx.port}/auth/login"  # the custom port kept
        assert (answer.status, answer.headers["Location"]) == (301, location)
    finally:
        connection.close()
        (challenge / token).unlink()
