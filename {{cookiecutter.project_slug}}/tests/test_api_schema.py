"""The API answers as its OpenAPI document says, for requests schemathesis makes up.

Every operation of /api/openapi.json gets generated requests (valid and invalid ones), with
and without a token, and every check schemathesis has: no 5xx, every status code, header and
content type documented, every body matching its schema, every request the document calls
valid accepted and every invalid one refused. Raise MAX_EXAMPLES for a deeper search.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.strategies import one_of
from schemathesis import GenerationMode

from {{ cookiecutter.project_slug }}.api.models import ApiToken
from {{ cookiecutter.project_slug }}.extensions import db

MAX_EXAMPLES = 10
# Bodies JSON allows but Python's json module cannot load: too deep, or a number too long.
UNLOADABLE_BODIES = {
    "100,000 nested arrays": "[" * 100_000 + "]" * 100_000,
    "50,000 nested objects": '{"a": ' * 50_000 + "0" + "}" * 50_000,
    "a 5,000-digit number": "7" * 5_000,
}


def operations(app):
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    found = [result.ok() for result in schema.get_all_operations()]
    assert len(found) >= 7  # tokens: create, list, revoke, revoke all; users: list, me x2, by id
    return found


def fuzz(operation, headers):
    strategies = [operation.as_strategy(generation_mode=mode) for mode in GenerationMode]

    @given(case=one_of(strategies))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case):
        case.call_and_validate(headers=headers)  # every check

    check()


@pytest.mark.parametrize("with_token", [False, True], ids=["anonymous", "token"])
def test_every_operation_keeps_to_the_document(app, user, with_token):
    for operation in operations(app):
        # A fresh token per operation: a generated DELETE /api/tokens revokes them all.
        fuzz(operation, token_headers(user) if with_token else {})


def token_headers(user):
    _, secret = ApiToken.issue(user)
    db.session.commit()
    return {"Authorization": f"Bearer {secret}"}


@pytest.mark.parametrize("body", UNLOADABLE_BODIES.values(), ids=UNLOADABLE_BODIES)
def test_bodies_python_cannot_load_are_problems_not_errors(app, user, body):
    """Once 500s (RecursionError, and ValueError from Python's limit on an int's digits)."""
    with_body = [operation for operation in operations(app) if operation.body]
    assert len(with_body) >= 2  # POST /api/tokens, PATCH /api/users/me
    for operation in with_body:
        case = operation.Case(body=body.encode(), media_type="application/json")
        response = case.call_and_validate(headers=token_headers(user))
        assert response.status_code == 400, operation.label
        assert response.json()["errors"] == {"json": ["Invalid JSON body."]}
