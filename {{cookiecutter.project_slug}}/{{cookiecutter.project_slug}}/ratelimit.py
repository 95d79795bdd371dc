"""The rate limiter (Flask-Limiter), told which requests no limit can apply to.

Flask-Limiter searches for the limits of a request before its view runs, and again in each
`limiter.limit` decorator. For GET / that check took a sixth of the request's time, although
only the forms' POSTs and the API's token requests have limits. `no_limit_applies` answers
the question once per view and method, from Flask-Limiter's own records, and the check before
the view is skipped only when the answer is "none": no limit decorates the view for this
method, its blueprint has none, and no default, application or meta limit exists. A limit
under a decorator that hides the view's name, or a `with limiter.limit(...)` block in a view,
leaves a hint for the endpoint in Flask-Limiter the first time it runs. So a limit added later
is never skipped: tests/test_rate_limits.py tries each way of adding one.

`within` and `count` keep counts of the app's own choosing (per account, per mail address),
which no decorator can know before the view runs, in Flask-Limiter's storage: Redis in
production, so every worker shares them.
"""

from typing import cast

import flask_limiter
from flask import Flask, current_app, request
from flask_limiter.util import get_qualified_name, get_remote_address
from limits import parse_many


class Limiter(flask_limiter.Limiter):
    def _check_request_limit(
        self, callable_name: str | None = None, in_middleware: bool = True
    ) -> None:
        # Flask-Limiter's check, before the view and in each limit decorator (on every method),
        # skipped whole where no limit applies: as a request filter, the answer still left it
        # 50-70 us of GET /'s ~480 (exemptions, an empty evaluation, per call).
        if request.endpoint and no_limit_applies():
            return
        super()._check_request_limit(callable_name, in_middleware)


limiter = Limiter(key_func=get_remote_address)
# The login form, the API's token requests and the forms asking for the current password
# draw on one budget of password guesses per client.
password_guesses = limiter.shared_limit(
    lambda: current_app.config["LOGIN_RATE_LIMIT"], scope="password-guesses", methods=["POST"]
)


def within(setting: str, *key: str) -> bool:
    """Whether `key` (a tuple of strings) has some of the limit a setting names left."""
    return storage_call("test", setting, key)


def count(setting: str, *key: str) -> bool:
    """Count one against `key`'s limit; False if it was spent already."""
    return storage_call("hit", setting, key)


def forget(setting: str, *key: str) -> None:
    """Start `key`'s count afresh."""
    storage_call("clear", setting, key)


def storage_call(method: str, setting: str, key: tuple[str, ...]) -> bool:
    """If the storage is unreachable (or hangs past REDIS_TIMEOUT), this count is not kept (and
    allows), and the next ones go to memory with Flask-Limiter's own limits: a Redis that hangs
    costs one timeout, not one per count. Flask-Limiter notices when Redis is back."""
    if not current_app.config.get("RATELIMIT_ENABLED", True):  # off in most tests
        return True
    answers = []
    try:
        for limit in parse_many(current_app.config[setting]):
            answers.append(getattr(limiter.limiter, method)(limit, setting, *key))
    except Exception as error:  # the storage's own errors: redis-py's are no OSErrors
        current_app.logger.warning("rate limit storage unreachable: %s", error)
        if current_app.config.get("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED"):
            limiter._storage_dead = True  # Flask-Limiter's own switch to its fallback
        return True
    return all(answers)


def no_limit_applies() -> bool:
    endpoint = cast(str, request.endpoint)  # never None: Limiter above checks first
    if limiter.limit_manager.has_hints(endpoint):  # a limit Flask-Limiter found by running it
        return False
    answers = current_app.extensions.setdefault("rate_limit_search_needed", {})
    key = (endpoint, request.method)
    if key not in answers:
        answers[key] = search_needed(current_app, endpoint)
    return not answers[key]


def search_needed(app: Flask, endpoint: str) -> bool:
    """Whether any limit, of any kind, may apply to this endpoint for this request's method."""
    manager = limiter.limit_manager
    # Meta limits have no public accessor; they block a client on every view.
    if manager.default_limits or manager.application_limits or limiter._meta_limits:
        return True
    blueprint = endpoint.rpartition(".")[0]
    if blueprint and manager.blueprint_limits(app, blueprint):
        return True
    view = app.view_functions[endpoint]
    limits = manager.decorated_limits(get_qualified_name(view))
    return not all(limit.method_exempt for limit in limits)
