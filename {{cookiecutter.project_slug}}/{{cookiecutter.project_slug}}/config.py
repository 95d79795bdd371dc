"""Settings for each way the app runs, read from the environment when the app is created.

APP_CONFIG picks one: development (the `flask` command in a checkout: .flaskenv says so),
testing (pytest) or production (the default, so Gunicorn, which reads neither .flaskenv nor
.env, never runs with development settings).
"""

import os
from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import click
from werkzeug.serving import is_running_from_reloader

PLACEHOLDER_SECRET = "change-me"  # noqa: S105  (the public placeholder in .env.example)
MIN_SECRET_BYTES = 32
KEY_COMMAND = 'python3 -c "import secrets; print(secrets.token_hex(32))"'
SQLITE_URL = "sqlite:///{{ cookiecutter.project_slug }}.sqlite"  # in the instance folder


class SettingsError(click.ClickException, RuntimeError):
    """Settings the app cannot start with: the `flask` command prints the message alone."""


def secret_setting(name: str, default: str | None = None) -> str | None:
    """A secret setting: the environment's, else the file of that name in SECRETS_DIR.

    Kubernetes (a Secret mounted as a volume) and Docker Swarm (secrets in /run/secrets) hand
    secrets over as files, which child processes, crash reports and `docker inspect` do not
    show as they show environment variables.
    """
    value = os.environ.get(name)
    folder = os.environ.get("SECRETS_DIR")
    if value is None and folder and os.path.isfile(os.path.join(folder, name)):
        with open(os.path.join(folder, name), encoding="utf-8") as file:
            value = file.read().strip()
    return default if value is None else value


def with_password(url: str | None, password: str | None) -> str | None:
    """The database URL with DATABASE_PASSWORD in it, when that is set: the password can then
    be one secret file that the app and the database server both read (Docker Swarm)."""
    if not url or not password:
        return url
    # Here, not at the top: gunicorn.conf.py imports this module into Gunicorn's master,
    # whose memory every worker inherits, and SQLAlchemy would add 13 MiB to it.
    from sqlalchemy.engine import make_url

    return make_url(url).set(password=password).render_as_string(hide_password=False)


def env_flag(name: str, default: bool) -> bool:
    """Read a yes/no environment variable such as SESSION_COOKIE_SECURE=0."""
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def traces_wanted() -> bool:
    """OpenTelemetry's own variables: an OTLP endpoint is set, and the SDK is not disabled."""
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    return bool(endpoint) and not env_flag("OTEL_SDK_DISABLED", False)


class Config:
    """Settings shared by every configuration."""

    # The answers given when the project was made: the pages' title and meta description.
    APP_NAME = {{ cookiecutter.project_name | python_literal("    APP_NAME = ") }}
    APP_DESCRIPTION = {{ cookiecutter.description | python_literal("    APP_DESCRIPTION = ") }}
    DEBUG = False
    TESTING = False
    MAX_CONTENT_LENGTH = 1024 * 1024  # nginx's client_max_body_size says the same
    # A form's body (urlencoded or multipart): 413 beyond, before anything reads it. The forms
    # hold a few short fields (auth/rules.py caps each at 1024 characters); JSON keeps 1 MiB.
    MAX_FORM_LENGTH = 64 * 1024
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    RATELIMIT_HEADERS_ENABLED = True
    # If Redis goes away, each worker counts in memory until it is back: logins keep working.
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    LOGIN_RATE_LIMIT = "10 per minute"
    HASH_METHOD = "scrypt"  # how passwords are hashed: werkzeug's default, slow on purpose
    MAIL_RATE_LIMIT = "5 per minute"  # password-reset and verification mails, per client
    # Whoever asks: at most this many mails to one address, and sent because of one client.
    MAIL_ADDRESS_RATE_LIMIT = "5 per hour"
    MAIL_CLIENT_RATE_LIMIT = "20 per hour"
    # Wrong passwords for one account from any client, on the login form, the API and the
    # forms that ask for the current password (LOGIN_RATE_LIMIT counts per client).
    ACCOUNT_GUESS_RATE_LIMIT = "20 per hour"
    # ... except from a browser that logged in to the account before (a "device cookie", see
    # auth/guesses.py): it has a budget of its own, which strangers cannot spend.
    DEVICE_GUESS_RATE_LIMIT = "10 per hour"
    DEVICE_COOKIE_DAYS = 365
    # The forgot-password form answers no sooner than this, known address or not.
    FORGOT_PASSWORD_SECONDS = 0.2
    EMAIL_TOKEN_MAX_AGE = 48 * 3600  # seconds a link to verify an address works
    RESET_TOKEN_MAX_AGE = 3600  # seconds a password-reset link works (once)
    # One JSON object a line; "text" for people; None leaves logging alone.
    LOG_FORMAT: str | None = "json"
    SENTRY_ENVIRONMENT = "production"
    # Pages load only this site's own stylesheet, with no inline scripts or styles, so the
    # policy allows nothing else (nginx's site repeats it for the files it serves itself).
    CONTENT_SECURITY_POLICY = {
        "default-src": "'self'",
        "object-src": "'none'",
        "base-uri": "'self'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
        # Trusted Types: DOM sinks (innerHTML, DOMParser, a script's src...) take no plain
        # string; the one policy allowed, static/trusted-types.js's "default", passes only the
        # HTML htmx swaps in from this site's responses. Swagger UI's page goes without them
        # (headers.py), as its bundle writes HTML from strings.
        "require-trusted-types-for": "'script'",
        "trusted-types": "default",
    }
    # Permissions-Policy: browser features no page here uses, denied to the site and anything
    # it embeds ({feature: allowlist}, () for none). Passkeys (publickey-credentials-get and
    # -create) keep their default: allowed for the site itself.
    PERMISSIONS_POLICY: dict[str, tuple[str, ...]] = dict.fromkeys(
        (
            "accelerometer",
            "browsing-topics",
            "camera",
            "display-capture",
            "geolocation",
            "gyroscope",
            "hid",
            "magnetometer",
            "microphone",
            "midi",
            "payment",
            "serial",
            "usb",
            "xr-spatial-tracking",
        ),
        (),
    )
    HSTS_MAX_AGE = 63072000  # two years; sent only on HTTPS responses

    def __init__(self) -> None:
        self.SECRET_KEY = secret_setting("SECRET_KEY")
        # Earlier secret keys, comma-separated, while a new SECRET_KEY takes over: sessions
        # and the authenticator apps' secrets made with them still open (docs/sign-in.md).
        fallbacks = secret_setting("SECRET_KEY_FALLBACKS") or ""
        self.SECRET_KEY_FALLBACKS = [key.strip() for key in fallbacks.split(",") if key.strip()]
        self.SQLALCHEMY_DATABASE_URI = with_password(
            secret_setting("DATABASE_URL", SQLITE_URL),
            secret_setting("DATABASE_PASSWORD"),
        )
        # Seconds a network call may wait before it gives up (docs/faults.md): a dependency
        # that hangs costs a request this long, never a worker (Gunicorn kills one after 30 s).
        # Redis answers in a millisecond; a worker's first login after it hangs waits twice
        # (Flask-Limiter's try, then its check before counting in memory).
        self.REDIS_TIMEOUT = float(os.environ.get("REDIS_TIMEOUT", "1"))
        self.DATABASE_TIMEOUT = int(os.environ.get("DATABASE_TIMEOUT", "3"))  # connect, pool
        self.DATABASE_STATEMENT_TIMEOUT = int(os.environ.get("DATABASE_STATEMENT_TIMEOUT", "10"))
        self.SQLALCHEMY_ENGINE_OPTIONS = engine_options(vars(self))
        self.RATELIMIT_STORAGE_URI = secret_setting("RATELIMIT_STORAGE_URI", "memory://")
        self.RATELIMIT_STORAGE_OPTIONS = (
            redis_options(self.REDIS_TIMEOUT)
            if (self.RATELIMIT_STORAGE_URI or "").startswith("redis")
            else {}
        )
        # Background jobs (mails, periodic clean-ups) queue in this Redis for `flask jobs
        # worker`; without it they run at once in the process that asks (development, tests).
        self.JOBS_REDIS_URL = secret_setting("JOBS_REDIS_URL")
        # Accounts never verified nor logged in are deleted after this many days (0: never).
        self.UNVERIFIED_ACCOUNT_DAYS = int(os.environ.get("UNVERIFIED_ACCOUNT_DAYS", "30"))
        # `flask backup create` and the daily backup job write here (default: instance/backups)
        # and keep the newest BACKUP_KEEP (docs/backups.md).
        self.BACKUP_DIR = os.environ.get("BACKUP_DIR") or None
        self.BACKUP_KEEP = int(os.environ.get("BACKUP_KEEP", "14"))
        self.BACKUP_DAILY = env_flag("BACKUP_DAILY", True)  # the worker's daily backup job
        self.TRUSTED_PROXIES = int(os.environ.get("TRUSTED_PROXIES", "0"))
        # Links in mails start with BASE_URL (https://example.com), never with the Host a
        # request names: anyone can name any host. Without it (development) the request's own.
        self.BASE_URL = os.environ.get("BASE_URL", "").rstrip("/") or None
        # Requests for any other host are a 400; the health checks ask for localhost.
        own = urlsplit(self.BASE_URL or "").hostname or ""
        hosts = os.environ.get("TRUSTED_HOSTS") or f"{own},localhost,127.0.0.1"
        self.TRUSTED_HOSTS = [host.strip() for host in hosts.split(",") if host.strip()]
        self.REGISTER_RATE_LIMIT = os.environ.get("REGISTER_RATE_LIMIT", "5 per minute")
        # Sensitive actions (password, address, factors, deleting the account, /admin's
        # actions) ask for the password or a factor again when the last check is older.
        self.FRESH_CHECK_MINUTES = float(os.environ.get("FRESH_CHECK_MINUTES", "10"))
        # Administrators must have a second factor (a passkey or an app) to open /admin.
        self.ADMIN_REQUIRES_SECOND_FACTOR = env_flag("ADMIN_REQUIRES_SECOND_FACTOR", True)
        # Log in only once the address is verified: it is how a forgotten password comes back,
        # and an unproven one would let a typo (or someone else's address) own the account.
        self.LOGIN_REQUIRES_VERIFIED_EMAIL = env_flag("LOGIN_REQUIRES_VERIFIED_EMAIL", True)
        # "Remember me" keeps a browser logged in this long (Flask-Login's default: 365 days).
        days = int(os.environ.get("REMEMBER_COOKIE_DAYS", "30"))
        self.REMEMBER_COOKIE_DURATION = timedelta(days=days)
        # Mail (Flask-Mail). With no MAIL_SERVER, `flask run` logs mails instead of sending.
        self.MAIL_SERVER = os.environ.get("MAIL_SERVER", "")
        self.MAIL_PORT = int(os.environ.get("MAIL_PORT", "25"))
        self.MAIL_USE_TLS = env_flag("MAIL_USE_TLS", False)
        self.MAIL_USE_SSL = env_flag("MAIL_USE_SSL", False)
        self.MAIL_USERNAME = os.environ.get("MAIL_USERNAME")
        self.MAIL_PASSWORD = secret_setting("MAIL_PASSWORD")
        self.MAIL_DEFAULT_SENDER = os.environ.get("MAIL_DEFAULT_SENDER", "noreply@localhost")
        self.MAIL_TIMEOUT = float(os.environ.get("MAIL_TIMEOUT", "10"))  # seconds, then give up
        self.MAIL_DEBUG = env_flag("MAIL_DEBUG", False)  # print the SMTP dialogue
        self.LOG_FORMAT = os.environ.get("LOG_FORMAT", self.LOG_FORMAT)
        self.SENTRY_DSN = secret_setting("SENTRY_DSN")  # error tracking is off without one
        self.SENTRY_ENVIRONMENT = os.environ.get("SENTRY_ENVIRONMENT", self.SENTRY_ENVIRONMENT)
        # HSTS for every subdomain too; add HSTS_PRELOAD=1 only once every subdomain serves
        # HTTPS, then submit the domain at hstspreload.org (leaving the list takes months).
        self.HSTS_INCLUDE_SUBDOMAINS = env_flag("HSTS_INCLUDE_SUBDOMAINS", True)
        self.HSTS_PRELOAD = env_flag("HSTS_PRELOAD", False)
        # Made by gunicorn.conf.py when METRICS_PORT is set: the workers count requests there.
        self.PROMETHEUS_MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        # Traces (tracing.py): spans go to the OTLP endpoint OTEL_EXPORTER_OTLP_ENDPOINT names.
        self.TRACING = traces_wanted()


class DevelopmentConfig(Config):
    """`flask run` on a developer's machine."""

    DEBUG = True
    LOG_FORMAT = "text"
    SENTRY_ENVIRONMENT = "development"

    def __init__(self) -> None:
        super().__init__()
        # `flask routes` or `flask db upgrade` in a fresh checkout need no secret; serving does,
        # so say so now rather than at the first form.
        if not self.SECRET_KEY and serving():
            raise SettingsError(
                "SECRET_KEY is not set (no .env?): run `cp .env.example .env` and set "
                f"SECRET_KEY in .env to the output of: {KEY_COMMAND}"
            )
        # Development runs with a weak key, but say so: production will refuse it. The
        # reloader's child loads the app again: warn in the first process only.
        weak = self.SECRET_KEY and weak_secret(self.SECRET_KEY)
        if weak and serving() and not is_running_from_reloader():
            click.secho(
                "Warning: SECRET_KEY in .env is a placeholder or too short; production "
                f"refuses it. Set it to the output of: {KEY_COMMAND}",
                err=True,
                fg="yellow",
            )


class TestingConfig(Config):
    """pytest: an in-memory database (or TEST_DATABASE_URL's), no rate limits, a fixed secret."""

    TESTING = True
    WTF_CSRF_ENABLED = False  # tests that check CSRF turn it back on
    RATELIMIT_ENABLED = False
    HASH_METHOD = "pbkdf2:sha256:1000"  # fast password hashes for fast tests only
    FORGOT_PASSWORD_SECONDS = 0  # test_accounts.py sets a floor where it checks the floor
    SENTRY_ENVIRONMENT = "testing"

    def __init__(self) -> None:
        super().__init__()
        self.SECRET_KEY = "testing-secret-key-that-is-long-enough"  # noqa: S105
        # Set TEST_DATABASE_URL to run the tests on a database like production's (emptied!).
        self.SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL", "sqlite://")
        self.SQLALCHEMY_ENGINE_OPTIONS = engine_options(vars(self))
        self.MAIL_SERVER = "localhost"  # never contacted: Flask-Mail records, not sends, in tests
        self.JOBS_REDIS_URL = None  # jobs run at once, in the test's process
        self.LOG_FORMAT = None  # pytest captures the logs
        self.SENTRY_DSN = None
        self.TRACING = False  # tests that trace set up an in-memory exporter (test_tracing.py)


class ProductionConfig(Config):
    """Gunicorn behind nginx: cookies over HTTPS only, and a real secret or no start."""

    def __init__(self) -> None:
        super().__init__()
        secure = env_flag("SESSION_COOKIE_SECURE", default=True)
        self.SESSION_COOKIE_SECURE = secure
        self.REMEMBER_COOKIE_SECURE = secure
        check_secret(self.SECRET_KEY)
        if serving():  # `flask db upgrade` needs no address
            check_base_url(self.BASE_URL)


def redis_options(seconds: float) -> dict[str, object]:
    """redis-py's settings for a Redis that may hang: give up after `seconds`, and retry only
    a broken connection (a restarted Redis), once, never a timeout. redis-py's own default
    (three retries with backoff) turns a 2 s timeout into 8 s of a held worker."""
    from redis.backoff import NoBackoff  # here: only processes that talk to Redis load it
    from redis.exceptions import ConnectionError as Broken
    from redis.retry import Retry

    return {
        "socket_timeout": seconds,
        "socket_connect_timeout": seconds,
        "retry": Retry(NoBackoff(), 1, (Broken,)),
    }


def engine_options(settings: Mapping[str, Any]) -> dict[str, object]:
    """SQLAlchemy's engine settings for the database that `settings` (a config's or an app's)
    name: pooled connections checked before use (a database restart costs no request), and
    with PostgreSQL a limit on each wait. Only served requests get the statement timeout:
    migrations and jobs may run longer."""
    options: dict[str, object] = {"pool_pre_ping": True}
    if (settings.get("SQLALCHEMY_DATABASE_URI") or "").startswith("postgresql"):
        seconds = settings["DATABASE_TIMEOUT"]
        # libpq: connect_timeout for a server that never answers; tcp_user_timeout (ms) closes
        # a connection whose packets a frozen or unplugged host no longer acknowledges.
        connect: dict[str, object] = {
            "connect_timeout": seconds,
            "tcp_user_timeout": seconds * 1000,
        }
        statement_timeout = settings.get("DATABASE_STATEMENT_TIMEOUT")
        if serving() and statement_timeout:
            connect["options"] = f"-c statement_timeout={statement_timeout}s"
        options.update(pool_timeout=seconds, connect_args=connect)
    return options


def weak_secret(secret: str) -> bool:
    """True for a secret anyone could guess or forge sessions with."""
    return secret == PLACEHOLDER_SECRET or len(secret.encode()) < MIN_SECRET_BYTES


def check_secret(secret: str | None) -> None:
    """Refuse to serve with a missing or weak secret."""
    if not secret or weak_secret(secret):
        raise SettingsError(
            f"SECRET_KEY must be set to a random value of at least {MIN_SECRET_BYTES} bytes "
            f"in production. Generate one with: {KEY_COMMAND}"
        )


def check_base_url(url: str | None) -> None:
    """Refuse to serve without the site's address: mailed links would follow the Host header."""
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(
            "BASE_URL must be set to the site's address in production, e.g. "
            "BASE_URL=https://example.com (links in mails start with it)"
        )


def serving() -> bool:
    """False while a `flask` command other than `flask run` loads the app."""
    command = click.get_current_context(silent=True)
    return command is None or command.info_name == "run"


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def load_config(name: str) -> Config:
    """The settings object for a configuration name."""
    try:
        return CONFIGS[name]()
    except KeyError:
        raise SettingsError(f"APP_CONFIG={name!r} is not one of: {', '.join(CONFIGS)}") from None
