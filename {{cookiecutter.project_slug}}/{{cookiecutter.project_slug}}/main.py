"""Public pages, with URL parameters as worked examples."""

from flask import Blueprint, render_template

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
    integers (PostgreSQL's are 32-bit), are a 404 before this runs."""
    return render_template("user.html", user=db.get_or_404(User, user_id))
