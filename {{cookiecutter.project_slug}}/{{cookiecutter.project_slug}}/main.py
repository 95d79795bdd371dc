"""Public pages, with URL parameters as worked examples."""

from flask import Blueprint, abort, render_template
from flask_login import current_user

from .extensions import db
from .models import User

bp = Blueprint("main", __name__)


@bp.get("/")
def index() -> str:
    return render_template("index.html")


@bp.get("/hello/<name>")
def hello(name: str) -> str:
    """A string parameter: /hello/Ada. Jinja escapes it when the page shows it."""
    return render_template("hello.html", name=name)


@bp.get("/users/<int(max=2147483647):user_id>")
def user(user_id: int) -> str:
    """An int converter: /users/1 matches; /users/abc, and an id larger than the database's
    integers (PostgreSQL's are 32-bit), are a 404 before this runs.

    Profiles are for logged-in users: to anyone else every id is a 404, so nobody can list the
    usernames by walking the ids. The account is looked up either way, so the answer takes as
    long whether the id has one or not."""
    found = db.session.get(User, user_id)
    if found is None or not current_user.is_authenticated:
        abort(404)
    return render_template("user.html", user=found)
