import re

import pytest

from {{ cookiecutter.project_slug }} import create_app
from {{ cookiecutter.project_slug }}.extensions import db
from {{ cookiecutter.project_slug }}.models import User


@pytest.fixture
def app(request):
    """The app on the testing config, with empty tables: in memory, or in TEST_DATABASE_URL.

    Mark a test with @pytest.mark.settings(NAME=value) to change settings before the
    extensions read them.
    """
    marker = request.node.get_closest_marker("settings")
    app = create_app(marker.kwargs if marker else "testing")
    with app.app_context():
        db.create_all()
        yield app
        db.session.remove()
        db.drop_all()
        db.engine.dispose()  # close pooled connections: a PostgreSQL one would outlive the test


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def user(app):
    """A registered user: ada / correct horse."""
    user = User(username="ada")
    user.set_password("correct horse")
    db.session.add(user)
    db.session.commit()
    return user


def csrf_token(response):
    """The CSRF token of the form in a page, as a browser would submit it."""
    match = re.search(r'name="csrf_token"[^>]* value="([^"]+)"', response.text)
    assert match, "the page has no CSRF token"
    return match.group(1)
