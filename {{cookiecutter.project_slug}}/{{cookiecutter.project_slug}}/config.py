"""Settings for each way the app runs, read from the environment when the app is created.

APP_CONFIG picks one: development (flask run, from .env), testing (pytest) or production (the
default, so Gunicorn, which does not read .env, never runs with development settings).
"""

import os

PLACEHOLDER_SECRET = "change-me"  # noqa: S105  (the public placeholder in .env.example)
MIN_SECRET_BYTES = 32


def env_flag(name, default):
    """Read a yes/no environment variable such as SESSION_COOKIE_SECURE=0."""
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


class Config:
    """Settings shared by every configuration."""

    APP_NAME = {{ cookiecutter.project_name | python_literal }}
    DEBUG = False
    TESTING = False
    MAX_CONTENT_LENGTH = 1024 * 1024  # nginx's client_max_body_size says the same
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}  # survive a database restart
    RATELIMIT_HEADERS_ENABLED = True
    LOGIN_RATE_LIMIT = "10 per minute"
    HASH_METHOD = "scrypt"  # how passwords are hashed: werkzeug's default, slow on purpose
    # Pages load only this site's own stylesheet, with no inline scripts or styles, so the
    # policy allows nothing else (nginx's site repeats it for the files it serves itself).
    CONTENT_SECURITY_POLICY = {
        "default-src": "'self'",
        "object-src": "'none'",
        "base-uri": "'self'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
    HSTS_MAX_AGE = 63072000  # two years; sent only on HTTPS responses

    def __init__(self):
        self.SECRET_KEY = os.environ.get("SECRET_KEY")
        self.SQLALCHEMY_DATABASE_URI = os.environ.get(
            "DATABASE_URL", "sqlite:///{{ cookiecutter.project_slug }}.sqlite"
        )
        self.RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "memory://")
        self.TRUSTED_PROXIES = int(os.environ.get("TRUSTED_PROXIES", "0"))


class DevelopmentConfig(Config):
    """`flask run` on a developer's machine."""

    DEBUG = True


class TestingConfig(Config):
    """pytest: an in-memory database, no rate limits, a fixed secret."""

    TESTING = True
    WTF_CSRF_ENABLED = False  # tests that check CSRF turn it back on
    RATELIMIT_ENABLED = False
    HASH_METHOD = "pbkdf2:sha256:1000"  # fast password hashes for fast tests only

    def __init__(self):
        super().__init__()
        self.SECRET_KEY = "testing-secret-key-that-is-long-enough"  # noqa: S105
        self.SQLALCHEMY_DATABASE_URI = "sqlite://"


class ProductionConfig(Config):
    """Gunicorn behind nginx: cookies over HTTPS only, and a real secret or no start."""

    def __init__(self):
        super().__init__()
        secure = env_flag("SESSION_COOKIE_SECURE", default=True)
        self.SESSION_COOKIE_SECURE = secure
        self.REMEMBER_COOKIE_SECURE = secure
        check_secret(self.SECRET_KEY)


def check_secret(secret):
    """Refuse to serve with a secret that anyone could guess or forge sessions with."""
    if not secret or secret == PLACEHOLDER_SECRET or len(secret.encode()) < MIN_SECRET_BYTES:
        raise RuntimeError(
            f"SECRET_KEY must be set to a random value of at least {MIN_SECRET_BYTES} bytes "
            "in production. Generate one with: "
            'python -c "import secrets; print(secrets.token_hex(32))"'
        )


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def load_config(name):
    """The settings object for a configuration name."""
    try:
        return CONFIGS[name]()
    except KeyError:
        raise RuntimeError(f"APP_CONFIG={name!r} is not one of: {', '.join(CONFIGS)}") from None
