"""/api/users: the caller's own account, any user by id, and the list of users (for
administrators only: it would hand every username to anyone with an account)."""

from collections.abc import Iterable
from typing import Any

from flask_smorest import abort
from flask_smorest.pagination import PaginationParameters
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ..auth.rules import RESERVED, reserved, skeleton
from ..extensions import db
from ..models import User
from .auth import caller, login_required, protect_cookie_sessions
from .errors import MAX_ID, ApiBlueprint
from .schemas import UserSchema, UserUpdateSchema

TAKEN = "That username is taken."

bp = ApiBlueprint("users", __name__, url_prefix="/api/users", description="User accounts")
protect_cookie_sessions(bp)
SECURED: dict[str, list[dict[str, list[str]]]] = {"security": [{"bearerAuth": []}]}


@bp.get("")
@login_required
@bp.response(200, UserSchema(many=True))
@bp.paginate()
@bp.problems(401, 403, 429, 500, 503)
@bp.doc(**SECURED)
def list_users(pagination_parameters: PaginationParameters) -> Iterable[User]:
    """Users in the order they signed up, a page at a time (see the X-Pagination header).

    For administrators only (`flask create-user --admin`).
    """
    if not caller().is_admin:
        message = "Only administrators may list the users."
        abort(403, problem="administrators-only", message=message)
    count = db.session.scalar(select(func.count(User.id)))
    pagination_parameters.item_count = count
    if pagination_parameters.first_item >= count:
        return []  # past the last page (and no offset too large for the database)
    return db.session.scalars(
        select(User)
        .order_by(User.id)
        .offset(pagination_parameters.first_item)
        .limit(pagination_parameters.page_size)
    ).all()


@bp.get("/me")
@login_required
@bp.response(200, UserSchema)
@bp.problems(401, 429, 500, 503)
@bp.doc(**SECURED)
def get_me() -> User:
    """The caller's own account."""
    return caller()


@bp.patch("/me")
@login_required
@bp.arguments(UserUpdateSchema)
@bp.response(200, UserSchema)
@bp.problems(400, 401, 409, 413, 429, 500, 503)
@bp.doc(**SECURED)
def update_me(changes: dict[str, Any]) -> User:
    """Change the caller's username (the rules of the registration form apply)."""
    user = caller()
    name = changes["username"]
    if reserved(name):  # `owner`, `admin`...: taken by the site itself
        unavailable(RESERVED)
    # Taken, or only looks like one taken (`r00t` beside `root`): rules.skeleton.
    taken = db.session.scalar(select(User.id).filter_by(username_skeleton=skeleton(name)))
    if taken is not None and taken != user.id:
        unavailable(TAKEN)
    user.username = name
    try:
        db.session.commit()  # the unique constraint decides between two renames at once
    except IntegrityError:
        db.session.rollback()
        unavailable(TAKEN)
    return user


def unavailable(reason: str) -> None:
    """Stop the request with a 409 (abort raises): the name is taken, reserved, or looks like
    one taken."""
    abort(409, problem="username-taken", message=reason, errors={"json": {"username": [reason]}})


@bp.get(f"/<int(max={MAX_ID}):user_id>")
@login_required
@bp.response(200, UserSchema)
@bp.problems(401, 404, 429, 500, 503)
@bp.doc(**SECURED)
def get_user(user_id: int) -> User:
    """One user by id."""
    user = db.session.get(User, user_id)
    if user is None:
        abort(404, problem="no-such-user", message="There is no user with that id.")
    return user  # type: ignore[return-value]  # abort() above never returns
