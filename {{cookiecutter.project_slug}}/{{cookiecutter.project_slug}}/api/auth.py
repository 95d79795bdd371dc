"""Who is calling: a bearer token, or else the browser's login session.

A browser sends its session cookie by itself, also on requests another site makes it send,
so cookie-authenticated requests that change something need the CSRF token (header
X-CSRFToken), as the site's forms do. A bearer token is never sent by itself: no CSRF check.
"""

import functools
from collections.abc import Callable
from typing import Any, cast

from flask import Blueprint, current_app, g, request
from flask_login import current_user
from werkzeug.exceptions import Unauthorized

from ..extensions import csrf
from ..models import User
from .errors import problem
from .models import ApiToken

SCHEME_HELP = "A token from POST /api/tokens, sent as `Authorization: Bearer <token>`."


def bearer_token() -> str | None:
    """The token of an `Authorization: Bearer ...` header, or None."""
    auth = request.authorization
    if auth is not None and auth.type == "bearer":
        return auth.token or ""
    return None


def login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Run the view for a valid token or a logged-in browser; otherwise answer 401."""

    @functools.wraps(view)
    def checked(*args: Any, **kwargs: Any) -> Any:
        token = bearer_token()
        if token is not None:
            g.api_user = ApiToken.user_for(token) if token else None
        elif current_user.is_authenticated:
            g.api_user = current_user._get_current_object()
        else:
            g.api_user = None
        if g.api_user is None:
            missing = Unauthorized("Send a valid token: Authorization: Bearer <token>.")
            response = problem(missing, "token-required")
            response.headers["WWW-Authenticate"] = "Bearer"
            return response
        return view(*args, **kwargs)

    return checked


def caller() -> User:
    """The user that login_required let in."""
    return cast(User, g.api_user)


def protect_cookie_sessions(blueprint: Blueprint) -> None:
    """Exempt the blueprint from the site-wide CSRF check, and check cookie sessions here."""
    csrf.exempt(blueprint)

    @blueprint.before_request
    def csrf_for_cookie_sessions() -> None:
        enabled = current_app.config.get("WTF_CSRF_ENABLED", True)
        if enabled and bearer_token() is None and current_user.is_authenticated:
            csrf.protect()  # a no-op for GET and HEAD
