import re
import weakref

import pytest
from flask.testing import FlaskClient
from jinja2 import FileSystemBytecodeCache
from sqlalchemy import event
from sqlalchemy.engine import Engine

from {{ cookiecutter.project_slug }} import create_app
from {{ cookiecutter.project_slug }}.extensions import db, limiter, mail
from {{ cookiecutter.project_slug }}.models import User


class ServerLikeClient(FlaskClient):
    """Runs each request in an app context of its own, as a server does.

    The fixtures keep one app context open for the database, and a request would otherwise
    share its `g`, where Flask-Login keeps the user it loaded and Flask-WTF the CSRF token:
    a test of logging out or of a revoked cookie would see the user of an earlier request.
    """

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture(autouse=True)
def close_databases():
    """Close the connections of every engine a test used, the `app` fixture's and those of apps
    a test makes itself: Python 3.13 warns about an SQLite connection left to the garbage
    collector, and warnings are errors here."""
    engines = weakref.WeakSet()

    def remember(connection):
        engines.add(connection.engine)

    event.listen(Engine, "engine_connect", remember)
    yield
    event.remove(Engine, "engine_connect", remember)
    for engine in engines:
        engine.dispose()


@pytest.fixture(scope="session")
def compiled_templates(tmp_path_factory):
    """Templates compiled once for the session: each test makes an app, which would compile
    them again (a fifth of the suite's time). Jinja checks each template's source against the
    code it finds there."""
    return FileSystemBytecodeCache(str(tmp_path_factory.mktemp("compiled-templates")))


@pytest.fixture
def app(request, compiled_templates):
    """The app on the testing config, with empty tables: in memory, or in TEST_DATABASE_URL.

    Mark a test with @pytest.mark.settings(NAME=value) to change settings before the
    extensions read them.
    """
    marker = request.node.get_closest_marker("settings")
    app = create_app(marker.kwargs if marker else "testing")
    app.test_client_class = ServerLikeClient
    app.jinja_env.bytecode_cache = compiled_templates
    with app.app_context():
        db.create_all()
        yield app
        db.session.remove()
        db.drop_all()
        db.engine.dispose()  # close pooled connections: a PostgreSQL one would outlive the test
    # The limiter is one object for every app, and keeps app-wide limits a test's settings made.
    limiter.limit_manager.set_default_limits([])
    limiter.limit_manager.set_application_limits([])


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def user(app):
    """A registered user with a verified address: ada / correct horse, ada@example.com."""
    user = User(username="ada", email="ada@example.com", email_verified=True)
    user.set_password("correct horse")
    db.session.add(user)
    db.session.commit()
    return user


def second_factor(user):
    """Turn on an authenticator app for `user`; returns its recovery codes, to log in with."""
    from datetime import UTC, datetime

    from {{ cookiecutter.project_slug }}.auth.factors import recovery, totp

    totp.start(user)
    user.totp.confirmed_at = datetime.now(UTC)
    codes = recovery.generate(user)
    db.session.commit()
    return codes


def csrf_token(response):
    """The CSRF token of the form in a page, as a browser would submit it."""
    match = re.search(r'name="csrf_token"[^>]* value="([^"]+)"', response.text)
    assert match, "the page has no CSRF token"
    return match.group(1)


@pytest.fixture
def outbox(app):
    """The mails the app sends: in tests Flask-Mail records them instead of sending."""
    with mail.record_messages() as messages:
        yield messages


def link_in(message):
    """The path of the link in a mail, as the test client wants it."""
    match = re.search(r"https?://[^/\s]+(/\S+)", message.body)
    assert match, f"no link in {message.body!r}"
    return match.group(1)
