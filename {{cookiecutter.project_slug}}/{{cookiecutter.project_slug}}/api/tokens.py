"""/api/tokens: exchange a username and password for a bearer token; list and revoke tokens."""

from collections.abc import Iterable
from datetime import UTC, datetime

from flask import Response, after_this_request, current_app
from flask_smorest import abort
from sqlalchemy import or_, select
from werkzeug.exceptions import Forbidden, TooManyRequests, Unauthorized

from ..auth import guesses
from ..auth.routes import must_verify, unknown_user_hash
from ..auth.rules import InvalidValue, canonical, refuse_control_characters
from ..extensions import db
from ..models import User
from ..ratelimit import password_guesses
from .auth import caller, login_required, protect_cookie_sessions
from .errors import MAX_ID, ApiBlueprint
from .models import ApiToken, revoke_api_tokens
from .schemas import CredentialsSchema, NewTokenSchema, TokenSchema

bp = ApiBlueprint(
    "tokens", __name__, url_prefix="/api/tokens", description="Bearer tokens of the caller"
)
protect_cookie_sessions(bp)
SECURED: dict[str, list[dict[str, list[str]]]] = {"security": [{"bearerAuth": []}]}


@bp.post("")
@password_guesses
@bp.arguments(CredentialsSchema)
@bp.response(201, NewTokenSchema)
@bp.problems(400, 401, 403, 413, 429, 500, 503)
def create_token(credentials: dict[str, str]) -> ApiToken:
    """Get a new token for a username and password.

    Wrong passwords count against the same budgets as the login form's: per client address,
    and per account.
    """
    after_this_request(never_stored)  # its answer holds a secret (RFC 6749, 5.1)
    name = credentials["username"]
    user = account(name)
    budget = guesses.account(user, name)
    if not guesses.left(budget):
        raise TooManyRequests(guesses.TOO_MANY)
    if user is None:
        # Check a password anyway, so an unknown name takes as long as a wrong password.
        check = User(password_hash=unknown_user_hash(current_app.config["HASH_METHOD"]))
        check.check_password(credentials["password"])
    elif user.check_password(credentials["password"]):
        if must_verify(user):  # as for a wrong password: see auth/routes.py's login
            raise Unauthorized("Invalid username or password.")
        if not user.is_active:
            raise Forbidden("This account is disabled.")
        user.logged_in()
        token, secret = ApiToken.issue(user)
        db.session.commit()
        token.secret = secret  # for this one response; never stored
        return token
    guesses.wrong(budget)
    raise Unauthorized("Invalid username or password.")


def never_stored(response: Response) -> Response:
    response.cache_control.no_store = True
    return response


def account(name: str) -> User | None:
    """The user a username or address belongs to, as the login form finds it, or None.

    A name with control characters belongs to no one, and never reaches the database
    (PostgreSQL refuses a NUL character in a query).
    """
    try:
        name = canonical(refuse_control_characters(name))
    except InvalidValue:
        return None
    return db.session.scalar(select(User).where(or_(User.username == name, User.email == name)))


@bp.get("")
@login_required
@bp.response(200, TokenSchema(many=True))
@bp.problems(401, 429, 500, 503)
@bp.doc(**SECURED)
def list_tokens() -> Iterable[ApiToken]:
    """The caller's tokens that have not expired (their secrets are never shown again)."""
    user = caller()
    return db.session.scalars(
        select(ApiToken)
        .filter_by(user_id=user.id)
        .where(ApiToken.expires_at > datetime.now(UTC))
        .order_by(ApiToken.id)
    ).all()


@bp.delete("")
@login_required
@bp.response(204)
@bp.problems(400, 401, 429, 500, 503)
@bp.doc(**SECURED)
def revoke_all_tokens() -> None:
    """Revoke every token of the caller (log out every API client)."""
    revoke_api_tokens(caller())
    db.session.commit()


@bp.delete(f"/<int(max={MAX_ID}):token_id>")
@login_required
@bp.response(204)
@bp.problems(400, 401, 404, 429, 500, 503)
@bp.doc(**SECURED)
def revoke_token(token_id: int) -> None:
    """Revoke one of the caller's tokens."""
    token = db.session.get(ApiToken, token_id)
    if token is None or token.user_id != caller().id:
        abort(404, message="You have no token with that id.")
    db.session.delete(token)
    db.session.commit()
