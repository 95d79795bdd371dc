"""The API answers as its OpenAPI document says, for requests schemathesis makes up.

Every operation of /api/openapi.json gets generated requests (valid and invalid ones), with
and without a token. The checks: no 5xx, every status code and content type documented, and
every body matching its schema. Raise MAX_EXAMPLES for a deeper search.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.strategies import one_of
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from {{ cookiecutter.project_slug }}.api.models import ApiToken
from {{ cookiecutter.project_slug }}.extensions import db

MAX_EXAMPLES = 10
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


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
        case.call_and_validate(headers=headers, checks=CHECKS)

    check()


@pytest.mark.parametrize("with_token", [False, True], ids=["anonymous", "token"])
def test_every_operation_keeps_to_the_document(app, user, with_token):
    for operation in operations(app):
        headers = {}
        if with_token:
            # A fresh token per operation: a generated DELETE /api/tokens revokes them all.
            _, secret = ApiToken.issue(user)
            db.session.commit()
            headers = {"Authorization": f"Bearer {secret}"}
        fuzz(operation, headers)
