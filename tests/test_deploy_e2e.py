"""The production stack of a baked project, run for real on loopback.

A throwaway PostgreSQL, `flask db upgrade`, two Gunicorn instances started from the baked
gunicorn.conf.py and nginx started from the baked site (only addresses and paths changed),
serving HTTPS with a certificate made by the baked README's command: the checks below talk to
nginx the way a browser that trusts that certificate would, Secure cookies and all.
"""

import contextlib
import gzip
import http.client
import http.cookiejar
import json
import re
import secrets
import shlex
import shutil
import socket
import ssl
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest

import servers
from browser import Browser, NoRedirects, signed_in_as
from conftest import clean_env

pytestmark = pytest.mark.e2e

SLUG = "my_flask_app"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    # Every powerful feature the app does not use is denied (passkeys stay the site's own).
    "Permissions-Policy": (
        "accelerometer=(), browsing-topics=(), camera=(), display-capture=(), geolocation=(), "
        "gyroscope=(), hid=(), magnetometer=(), microphone=(), midi=(), payment=(), serial=(), "
        "usb=(), xr-spatial-tracking=()"
    ),
}
FOR_A_YEAR = "public, max-age=31536000, immutable"
GZIP = {"Accept-Encoding": "gzip"}


@dataclass
class Deployment:
    project: Path
    database: servers.Postgres
    apps: list  # the Gunicorn instances behind nginx
    nginx: servers.Server
    mail: servers.Mailbox  # the SMTP server the apps send through


@pytest.fixture(scope="module")
def deployment(baked_python, tmp_path_factory):
    servers.need("nginx", *servers.SBIN)
    output = tmp_path_factory.mktemp("deployment")
    with contextlib.ExitStack() as stack:
        baked = stack.enter_context(servers.postgres_project(baked_python, output, use_nginx=True))
        project, database, url = baked.project, baked.server, baked.url
        mail = stack.enter_context(servers.smtp())
        env = clean_env(
            MAIL_SERVER="127.0.0.1",
            MAIL_PORT=str(mail.port),
            APP_CONFIG="production",
            SECRET_KEY=secrets.token_hex(32),  # one secret shared by every instance
            DATABASE_URL=url,
            TRUSTED_PROXIES="1",
        )
        apps = [
            stack.enter_context(servers.gunicorn(project, baked_python, env, workers=1))
            for _ in range(2)
        ]
        nginx = stack.enter_context(servers.nginx(project, [app.address for app in apps]))
        yield Deployment(project, database, apps, nginx, mail)


class SiteBrowser(Browser):
    """A browser on the deployment's nginx, with the account steps a person takes."""

    def __init__(self, nginx):
        super().__init__(nginx.url, nginx.ssl_context())
        self.nginx = nginx

    def register(self, username, password):
        token = self.csrf_token("/auth/register")
        form = {
            "csrf_token": token,
            "username": username,
            "email": f"{username}@example.com",
            "password": password,
            "confirm": password,
        }
        return self.request("/auth/register", form)

    def verify(self, mail, username):
        """Open the link of the sign-up mail, as its reader would."""
        return self.request(mail.link(f"{username}@example.com", "verify"))

    def log_in(self, username, password, remember=False):
        token = self.csrf_token("/auth/login")
        form = {"csrf_token": token, "username": username, "password": password}
        return self.request("/auth/login", form | ({"remember": "y"} if remember else {}))

    def copy_cookie(self, name):
        """Another browser holding a copy of this one's cookie `name` and nothing else."""
        thief = SiteBrowser(self.nginx)
        (cookie,) = [cookie for cookie in self.cookies if cookie.name == name]
        thief.cookies.set_cookie(cookie)
        return thief

    def log_out(self):
        token = self.csrf_token("/")  # the logout button's form
        return self.request("/auth/logout", {"csrf_token": token})


@pytest.fixture
def browser(deployment):
    return SiteBrowser(deployment.nginx)


# Proxying and headers -----------------------------------------------------------------


@pytest.mark.parametrize(
    "path, body",
    [("/", None), ("/static/style.css", None), ("/no/such/page", None), ("/auth/login", "x")],
    ids=["app page", "nginx static file", "app 404", "nginx 413"],
)
def test_security_headers_are_sent_exactly_once(browser, path, body):
    """The app sends them for its pages; nginx adds them only to what it answers itself."""
    form = None if body is None else {"username": body * (2 * 1024 * 1024)}
    page = browser.request(path, form)
    assert page.status in {200, 404, 413}
    for name, value in SECURITY_HEADERS.items():
        assert page.headers.get_all(name) == [value], name
    (policy,) = page.headers.get_all("Content-Security-Policy")
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert page.headers.get_all("Strict-Transport-Security") == [
        "max-age=63072000; includeSubDomains"
    ]
    assert page.headers["Server"] == "nginx"  # no version number


def test_plain_http_redirects_to_https(deployment):
    nginx = deployment.nginx
    request = urllib.request.Request(f"{nginx.http_url}/auth/login?next=/", method="GET")
    opener = urllib.request.build_opener(NoRedirects)
    with pytest.raises(urllib.error.HTTPError) as answer:
        opener.open(request, timeout=10)
    assert answer.value.code == 301
    assert answer.value.headers["Location"] == f"{nginx.url}/auth/login?next=/"
    assert "Strict-Transport-Security" not in answer.value.headers  # means nothing over HTTP


def handshake(nginx, *options):
    """The protocol and cipher `openssl s_client` agrees on with the site, or None."""
    command = [servers.need("openssl"), "s_client", "-connect", f"127.0.0.1:{nginx.port}"]
    command += ["-servername", "localhost", "-CAfile", str(nginx.certificate), *options]
    done = subprocess.run(command, input=b"", capture_output=True, timeout=30)
    found = re.search(rb"New, (TLSv[\d.]+), Cipher is (\S+)", done.stdout)
    return (found[1].decode(), found[2].decode()) if done.returncode == 0 and found else None


def resumed(nginx, version):
    """Whether a second connection resumes the first one's TLS session."""
    context = nginx.ssl_context()
    context.minimum_version = context.maximum_version = version
    session = None
    for _ in range(2):
        with (
            socket.create_connection(("127.0.0.1", nginx.port), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname="localhost", session=session) as tls,
        ):
            # TLS 1.3 sends the session after the handshake: read an answer to get it.
            tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            while tls.recv(65536):
                pass
            session, reused = tls.session, tls.session_reused
    return reused


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_tls_sessions_are_resumed(deployment, version):
    """nginx resumes sessions with its default server's cache: the site's must be there."""
    assert resumed(deployment.nginx, version)


def test_tls_1_2_and_1_3_with_forward_secret_ciphers_only(deployment):
    nginx = deployment.nginx
    assert handshake(nginx, "-tls1_3")[0] == "TLSv1.3"
    assert handshake(nginx, "-tls1_2")[0] == "TLSv1.2"
    # What a client at OpenSSL's lowest security level still offers, the site refuses.
    assert handshake(nginx, "-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0") is None
    assert handshake(nginx, "-tls1_2", "-cipher", "AES128-SHA:@SECLEVEL=0") is None  # no ECDHE
    assert handshake(nginx, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA") is None  # no AEAD


def negotiated(nginx, protocols):
    """The application protocol the site picks by ALPN from the client's `protocols`."""
    context = nginx.ssl_context()
    context.set_alpn_protocols(protocols)
    with (
        socket.create_connection(("127.0.0.1", nginx.port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        return tls.selected_alpn_protocol()


def test_http2_is_offered_and_http1_still_served(deployment):
    """Browsers offer h2 first: the site takes it; a client without it gets HTTP/1.1."""
    nginx = deployment.nginx
    assert negotiated(nginx, ["h2", "http/1.1"]) == "h2"
    assert negotiated(nginx, ["http/1.1"]) == "http/1.1"
    command = [servers.need("curl"), "--http2", "--silent", "--show-error"]
    command += ["--output", "/dev/null", "--cacert", str(nginx.certificate)]
    command += ["--write-out", "%{http_version} %{http_code}"]
    done = subprocess.run([*command, f"{nginx.url}/healthz"], capture_output=True, timeout=30)
    assert done.stdout.decode() == "2 200", done.stderr


class PolicyCheck(HTMLParser):
    """Collects what `default-src 'self'` would block: inline code and other origins."""

    def __init__(self):
        super().__init__()
        self.blocked = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "style":
            self.blocked.append("<style> element")
        if tag == "script" and "src" not in attrs:
            self.blocked.append("inline <script>")
        for name, value in attrs.items():
            if name == "style" or name.startswith("on"):
                self.blocked.append(f"{name}= attribute on <{tag}>")
            # What the page loads or posts to; a plain link may lead anywhere.
            loads = name in {"src", "action"} or (tag == "link" and name == "href")
            if loads and value and (urlsplit(value).scheme or urlsplit(value).netloc):
                self.blocked.append(f"{value} on <{tag}>: another origin")


@pytest.mark.parametrize(
    "path", ["/", "/auth/login", "/auth/register", "/hello/Ada", "/no/such/page"]
)
def test_pages_satisfy_the_content_security_policy(browser, path):
    page = browser.request(path)
    assert page.status in {200, 404}
    checker = PolicyCheck()
    checker.feed(page.text)
    assert checker.blocked == []


def test_unknown_host_gets_no_answer(deployment):
    nginx = deployment.nginx
    connection = http.client.HTTPConnection("127.0.0.1", nginx.http_port, timeout=10)
    connection.request("GET", "/", headers={"Host": "attacker.example"})
    with pytest.raises(http.client.RemoteDisconnected):
        connection.getresponse()
    connection.close()
    # Over TLS the name comes in the handshake (SNI), which nginx refuses.
    context = nginx.ssl_context()
    context.check_hostname = False
    with (
        socket.create_connection(("127.0.0.1", nginx.port), timeout=10) as raw,
        pytest.raises(ssl.SSLError, match="UNRECOGNIZED_NAME"),
    ):
        context.wrap_socket(raw, server_hostname="attacker.example")


def test_body_over_one_mebibyte_is_refused_before_gunicorn(deployment, browser):
    page = browser.request("/auth/login", {"username": "x" * (2 * 1024 * 1024)})
    assert page.status == 413
    assert page.headers["X-Frame-Options"] == "DENY"  # on error pages too
    assert all('"POST /auth/login HTTP/1.0" 413' not in app.log() for app in deployment.apps)


def test_readiness_check_reaches_the_database(browser):
    page = browser.request("/readyz")
    assert page.status == 200
    assert json.loads(page.text) == {"status": "ok", "checks": {"database": "ok"}}


# Static files -------------------------------------------------------------------------


def linked_files(page):
    """The URLs of the stylesheets, icons and scripts a page loads or names for its script."""
    return re.findall(r'="(/(?:static|api/docs)/[^"]+)"', page.text)


def test_static_file_comes_from_nginx_with_cache_headers(deployment, browser):
    (url,) = [url for url in linked_files(browser.request("/")) if "style.css" in url]
    assert re.fullmatch(r"/static/style\.css\?v=[0-9a-f]{12}", url)
    page = browser.request(url)
    assert page.status == 200
    assert page.body == (deployment.project / SLUG / "static" / "style.css").read_bytes()
    assert page.headers["Content-Type"] == "text/css"
    assert page.headers.get_all("Cache-Control") == [FOR_A_YEAR]
    assert all("/static/" not in app.log() for app in deployment.apps)


def test_static_file_without_its_hash_still_answers_and_is_revalidated(browser):
    page = browser.request("/static/style.css")
    assert page.status == 200
    assert page.headers.get_all("Cache-Control") == ["no-cache"]
    assert page.headers["ETag"] and page.headers["Last-Modified"]
    again = browser.request("/static/style.css", headers={"If-None-Match": page.headers["ETag"]})
    assert again.status == 304


def test_pages_are_not_cached_as_files(browser):
    page = browser.request("/?v=000000000000")
    assert FOR_A_YEAR not in (page.headers.get_all("Cache-Control") or [])


def test_static_file_is_served_with_gunicorn_stopped(deployment):
    nobody_listens = f"127.0.0.1:{servers.free_port()}"
    with servers.nginx(deployment.project, [nobody_listens]) as nginx:
        browser = SiteBrowser(nginx)
        assert browser.request("/").status == 502
        assert browser.request("/static/style.css").status == 200


def test_api_docs_files_are_compressed_and_cached_a_year(browser):
    files = linked_files(browser.request("/api/docs")) + ["/api/openapi.json"]
    # the layout's favicon, stylesheet, Trusted Types policy and htmx, the docs page's own
    # files, and the document
    assert len(files) == 9
    for url in files:
        page = browser.request(url, headers=GZIP)
        assert page.status == 200, url
        if "?v=" in url:
            assert page.headers.get_all("Cache-Control") == [FOR_A_YEAR], url
        if "favicon.svg" not in url:  # 119 bytes: below gzip_min_length
            assert page.headers["Content-Encoding"] == "gzip", url
            assert gzip.decompress(page.body) == browser.request(url).body, url


@pytest.mark.parametrize("path", ["/", "/auth/login", "/api/docs", "/api/users/me"])
def test_app_pages_and_answers_are_not_compressed(browser, path):
    """They may hold a CSRF token, a bearer token or personal data (BREACH)."""
    page = browser.request(path, headers=GZIP)
    assert page.status in {200, 401}
    assert "Content-Encoding" not in page.headers


def test_precompressed_copies_are_sent_as_they_are(deployment, browser, run_in_project):
    done = run_in_project(deployment.project, "flask", "gzip-static")
    assert done.returncode == 0, done.stderr
    copy = deployment.project / SLUG / "static" / "style.css.gz"
    try:
        page = browser.request("/static/style.css", headers=GZIP)
        assert page.headers["Content-Encoding"] == "gzip"
        assert page.body == copy.read_bytes()  # nginx's own gzip would make other bytes
    finally:
        copy.unlink()


# Accounts, sessions and proxies -------------------------------------------------------


def test_sign_up_log_in_and_log_out(deployment, browser):
    password = secrets.token_urlsafe(12)
    assert browser.register("ada", password).status == 302
    assert browser.verify(deployment.mail, "ada").status == 302
    rows = deployment.database.psql('SELECT username, password_hash FROM "user"', SLUG)
    username, password_hash = rows.split("|")
    assert username == "ada" and password not in password_hash

    login = browser.log_in("ada", password)
    assert (login.status, login.headers["Location"]) == (302, "/")
    assert signed_in_as(browser.request("/")) == "ada"

    assert browser.log_out().status == 302
    assert signed_in_as(browser.request("/")) is None


def test_mail_flow_and_a_password_reset_end_copied_cookies(deployment, browser):
    """Sign up, verify by mail, log in, forget the password, reset it by mail: the session
    and remember-me cookies copied before the reset are refused after it."""
    mail, password = deployment.mail, secrets.token_urlsafe(12)
    assert browser.register("lin", password).status == 302
    unverified = browser.log_in("lin", password)  # answered as a wrong password, and not let in
    assert unverified.status == 200 and "Location" not in unverified.headers
    assert browser.verify(mail, "lin").headers["Location"] == "/auth/login"
    assert browser.log_in("lin", password, remember=True).headers["Location"] == "/"
    copies = [browser.copy_cookie(name) for name in ("session", "remember_token")]
    assert [signed_in_as(copy.request("/")) for copy in copies] == ["lin", "lin"]

    stranger = SiteBrowser(deployment.nginx)
    answers = [
        stranger.submit("/auth/forgot-password", email=address)
        for address in ("LIN@example.com", "nobody@example.com")
    ]
    assert {(a.status, a.headers["Location"], a.body) for a in answers} == {
        (302, "/auth/login", answers[0].body)
    }
    link = mail.link("lin@example.com", "reset")
    new_password = secrets.token_urlsafe(12)
    # Opening the link spends nothing: it moves the token into the session and leads to a
    # page whose URL holds none, whose form sets the password.
    assert stranger.request(link).headers["Location"] == "/auth/reset-password"
    reset = stranger.submit("/auth/reset-password", password=new_password, confirm=new_password)
    assert (reset.status, reset.headers["Location"]) == (302, "/auth/login")
    assert not [m for m in mail.messages if "nobody@example.com" in m["To"]]

    assert [signed_in_as(copy.request("/")) for copy in copies] == [None, None]
    assert signed_in_as(browser.request("/")) is None
    assert stranger.request(link).headers["Location"] == "/auth/forgot-password"  # used
    assert browser.log_in("lin", password).status == 200  # the old password is refused
    assert browser.log_in("lin", new_password).headers["Location"] == "/"


def test_form_without_csrf_token_is_refused(browser):
    page = browser.request("/auth/login", {"username": "ada", "password": "whatever"})
    assert page.status == 400


def test_session_made_through_nginx_is_valid_on_every_instance(deployment, browser):
    password = secrets.token_urlsafe(12)
    browser.register("grace", password)
    browser.verify(deployment.mail, "grace")
    assert browser.log_in("grace", password).status == 302
    # nginx takes turns between the two instances: each serves a signed-in page.
    marker = f"/hello/grace-{secrets.token_hex(4)}"
    for _ in range(4):
        assert signed_in_as(browser.request(marker)) == "grace"
    assert all(f"GET {marker} " in app.log() for app in deployment.apps)


def test_external_urls_are_https(browser):
    """Werkzeug answers a doubled slash with a redirect to the full canonical URL, built from
    what nginx forwards (X-Forwarded-Proto, Host), which ProxyFix makes the app believe."""
    page = browser.request("/hello//Ada")
    assert page.status == 308
    assert page.headers["Location"] == f"{browser.base_url}/hello/Ada"


# The image's files (no Docker engine here: the same files and commands, run directly) --


def final_stage(dockerfile):
    """The instructions of the Dockerfile's last stage, one line each."""
    lines = dockerfile.replace("\\\n", " ").splitlines()
    lines = [line.strip() for line in lines]
    lines = [line for line in lines if line and not line.startswith("#")]
    last_from = max(i for i, line in enumerate(lines) if line.startswith("FROM "))
    return lines[last_from + 1 :]


def test_image_files_are_enough_to_migrate_serve_and_pass_the_healthcheck(
    deployment, baked_python, tmp_path
):
    stage = final_stage((deployment.project / "Dockerfile").read_text())
    image_env = {}
    for line in stage:
        instruction, _, rest = line.partition(" ")
        if instruction == "ENV":
            image_env.update(item.split("=", 1) for item in shlex.split(rest))
        if instruction == "COPY" and rest.startswith("--from=builder "):
            # The builder stage's venv of uv.lock's versions: here the shared one stands in.
            assert rest.split()[1:] == ["/opt/venv", "/opt/venv"], line
        elif instruction == "COPY" and rest.startswith("--from=assets "):
            # The stylesheet built in the assets stage: the committed one stands in (the baked
            # tests hold it equal to a fresh build).
            assert rest.split()[1].endswith("/static/style.css"), line
        elif instruction == "COPY":
            source, target = rest.split()
            copy = shutil.copytree if (deployment.project / source).is_dir() else shutil.copy
            copy(deployment.project / source, tmp_path / target)
    image_env.pop("PATH")  # the image's venv: here the shared one
    env = clean_env(**image_env, SECRET_KEY=secrets.token_hex(32))
    assert 'CMD ["gunicorn", "--config", "gunicorn.conf.py"]' in stage

    flask = str(baked_python.parent / "flask")
    upgrade = subprocess.run([flask, "db", "upgrade"], cwd=tmp_path, env=env, capture_output=True)
    assert upgrade.returncode == 0, upgrade.stderr
    (healthcheck,) = [line for line in stage if line.startswith("HEALTHCHECK ")]
    command = json.loads(healthcheck.partition(" CMD ")[2])
    assert command[0] == "python"
    with servers.gunicorn(tmp_path, baked_python, env) as app:
        probe = [str(baked_python), *command[1:-1], command[-1].replace(":8000/", f":{app.port}/")]
        assert subprocess.run(probe, env=env, timeout=30).returncode == 0
    assert subprocess.run(probe, env=env, capture_output=True, timeout=30).returncode != 0


# Clean-up -----------------------------------------------------------------------------


def test_servers_are_stopped_and_removed_when_a_test_fails(deployment, baked_python):
    env = clean_env(SECRET_KEY=secrets.token_hex(32), DATABASE_URL="sqlite://")
    with (
        pytest.raises(RuntimeError, match="a failing test"),
        servers.postgres() as database,
        servers.gunicorn(deployment.project, baked_python, env) as app,
        servers.nginx(deployment.project, [app.address]) as nginx,
    ):
        raise RuntimeError("a failing test")
    assert app.process.poll() is not None and nginx.process.poll() is not None
    assert not servers.accepts_connections(database.port)
    assert not database.data.exists()
