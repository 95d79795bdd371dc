import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import csrf_token
from sqlalchemy import select
from test_auth import login

from {{ cookiecutter.project_slug }} import create_app
from {{ cookiecutter.project_slug }}.api import errors, revoke_api_tokens
from {{ cookiecutter.project_slug }}.api.models import ApiToken
from {{ cookiecutter.project_slug }}.extensions import db
from {{ cookiecutter.project_slug }}.models import User

PROBLEM = "application/problem+json"


def get_token(client, username="ada", password="correct horse"):
    response = client.post("/api/tokens", json={"username": username, "password": password})
    assert response.status_code == 201, response.json
    return response.json["token"]


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def assert_problem(response, status, problem=None, title=None):
    """A problem details body, of the type `problem` names (/api/problems/<name>) if given."""
    assert response.status_code == status
    assert response.content_type == PROBLEM
    assert response.json["status"] == status
    assert response.json["title"]
    if problem:
        assert response.json["type"] == f"/api/problems/{problem}", response.json
    if title:
        assert response.json["title"] == title
    return response.json


def test_a_token_for_a_password_opens_the_api(client, user):
    token = get_token(client)
    response = client.get("/api/users/me", headers=bearer(token))
    assert response.status_code == 200
    assert response.json["username"] == "ada"
    assert response.json["created_at"].endswith("+00:00")


def test_only_a_hash_of_the_token_is_stored(client, user):
    token = get_token(client)
    stored = db.session.scalars(select(ApiToken.token_hash)).all()
    assert stored == [hashlib.sha256(token.encode()).hexdigest()]


@pytest.mark.parametrize("name", ["ADA", "ada@example.com"])
def test_a_token_for_any_spelling_of_the_name_or_the_address(client, user, name):
    assert get_token(client, name)


def test_an_unverified_address_gets_no_token(client, user):
    user.email_verified = False
    db.session.commit()
    response = client.post("/api/tokens", json={"username": "ada", "password": "correct horse"})
    # As for a wrong password: a sign-up with a taken address makes no account (issue 33).
    problem = assert_problem(response, 401, "invalid-credentials", "Invalid username or password")
    assert problem["detail"] == "Invalid username or password."


@pytest.mark.parametrize("name", ["ada\u0000", "a\rda", "\x7f"])
def test_control_characters_in_a_name_are_a_wrong_name(client, user, name):
    """No account has such a name: the document calls any string of 1 to 254 characters a
    fair try (schemathesis checks the server accepts what it documents), so: 401."""
    response = client.post("/api/tokens", json={"username": name, "password": "correct horse"})
    assert_problem(response, 401, "invalid-credentials")


@pytest.mark.parametrize("field", ["username", "password"])
def test_lone_surrogates_are_a_422_not_a_500(client, user, field):
    """JSON can escape half a UTF-16 pair, which UTF-8 cannot encode: once a 500."""
    body = {"username": "ada", "password": "correct horse"} | {field: "\udcd3"}
    response = client.post("/api/tokens", json=body)
    assert assert_problem(response, 422)["errors"] == {
        "json": {field: ["Not valid Unicode text."]}
    }


def test_wrong_password_and_unknown_user_get_the_same_401(client, user):
    wrong = assert_problem(
        client.post("/api/tokens", json={"username": "ada", "password": "nope"}),
        401,
        "invalid-credentials",
        "Invalid username or password",
    )
    unknown = assert_problem(
        client.post("/api/tokens", json={"username": "bob", "password": "nope"}),
        401,
        "invalid-credentials",
    )
    assert wrong == unknown


@pytest.mark.parametrize(
    "headers", [{}, bearer("not-a-token"), {"Authorization": "Basic YWRhOmNvcnJlY3Q="}]
)
def test_no_or_bad_token_is_a_401(client, user, headers):
    response = client.get("/api/users/me", headers=headers)
    assert_problem(response, 401, "token-required", "Valid token required")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_an_expired_token_is_refused(client, user):
    token = get_token(client)
    db.session.execute(
        ApiToken.__table__.update().values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    )
    db.session.commit()
    assert_problem(client.get("/api/users/me", headers=bearer(token)), 401)
    assert client.get("/api/tokens", headers=bearer(get_token(client))).json != []


def test_list_and_revoke_tokens(client, user):
    first, second = get_token(client), get_token(client)
    listed = client.get("/api/tokens", headers=bearer(first)).json
    assert len(listed) == 2
    assert all("token" not in item for item in listed)

    response = client.delete(f"/api/tokens/{listed[1]['id']}", headers=bearer(first))
    assert response.status_code == 204
    assert_problem(client.get("/api/users/me", headers=bearer(second)), 401)
    assert client.get("/api/users/me", headers=bearer(first)).status_code == 200

    assert client.delete("/api/tokens", headers=bearer(first)).status_code == 204
    assert_problem(client.get("/api/users/me", headers=bearer(first)), 401)


def test_no_one_revokes_another_users_token(client, user):
    bob = User(username="bob")
    bob.set_password("battery staple")
    db.session.add(bob)
    db.session.commit()
    get_token(client)
    adas_token_id = db.session.scalar(select(ApiToken.id))
    bobs = get_token(client, "bob", "battery staple")
    response = client.delete(f"/api/tokens/{adas_token_id}", headers=bearer(bobs))
    assert_problem(response, 404, "no-such-token", "No such token")
    assert db.session.get(ApiToken, adas_token_id) is not None


def test_revoke_api_tokens_logs_out_every_client(client, user):
    tokens = [get_token(client), get_token(client)]
    revoke_api_tokens(user)
    db.session.commit()
    for token in tokens:
        assert_problem(client.get("/api/users/me", headers=bearer(token)), 401)


def test_logging_out_everywhere_in_the_browser_ends_api_tokens(app, client, user):
    # The account page's "Log out everywhere" (the logout button) rotates the session token;
    # the API's tokens listen to that and end too.
    token = get_token(client)
    browser = app.test_client()
    assert login(browser).headers["Location"] == "/"
    browser.post("/auth/logout")
    assert_problem(client.get("/api/users/me", headers=bearer(token)), 401)


def test_a_password_reset_ends_api_tokens(client, user):
    token = get_token(client)
    user.set_password("a new password")
    user.revoke_sessions()  # what the reset and change-password views do
    db.session.commit()
    assert_problem(client.get("/api/users/me", headers=bearer(token)), 401)


def test_tokens_die_with_the_account(client, user):
    get_token(client)
    db.session.delete(user)
    db.session.commit()
    assert db.session.scalars(select(ApiToken)).all() == []


def test_rename_with_the_rules_of_the_registration_form(client, user):
    headers = bearer(get_token(client))
    response = client.patch("/api/users/me", json={"username": "ada.l"}, headers=headers)
    assert response.status_code == 200
    assert response.json["username"] == "ada.l"

    for bad in ("a!", "ab", "ada\n", "ada\u0000", "Ａｄａ.ｌ"):
        invalid = client.patch("/api/users/me", json={"username": bad}, headers=headers)
        errors = assert_problem(invalid, 422)["errors"]["json"]["username"]
        assert any("letters, digits" in error or "Control" in error for error in errors), bad


def test_a_new_name_is_stored_as_the_forms_store_it(client, user):
    headers = bearer(get_token(client))
    response = client.patch("/api/users/me", json={"username": "Ada.L"}, headers=headers)
    assert response.json["username"] == "ada.l"  # so `ADA.L` cannot become a second account


@pytest.mark.parametrize("spelling", ["bob", "BOB"])
def test_rename_to_a_taken_name_is_a_conflict(client, user, spelling):
    db.session.add(User(username="bob", password_hash="x"))
    db.session.commit()
    response = client.patch(
        "/api/users/me", json={"username": spelling}, headers=bearer(get_token(client))
    )
    problem = assert_problem(response, 409, "username-taken", "Username taken")
    assert problem["detail"] == "That username is taken."  # not Werkzeug's generic text
    assert problem["errors"] == {"json": {"username": ["That username is taken."]}}


@pytest.mark.parametrize("name", ["owner", "Admin_2"])
def test_rename_to_a_reserved_name_is_a_conflict_too(client, user, name):
    """A reserved name fits the document's pattern, so it is refused as unavailable (409), as
    a taken one: a 422 would say the document allowed an invalid request."""
    response = client.patch(
        "/api/users/me", json={"username": name}, headers=bearer(get_token(client))
    )
    problem = assert_problem(response, 409, "username-taken", "Username taken")
    assert problem["detail"] == "That username is reserved. Please choose another."


def test_users_by_id_and_by_page(client, user):
    user.is_admin = True
    db.session.add_all(User(username=f"user{n}", password_hash="x") for n in range(12))
    db.session.commit()
    headers = bearer(get_token(client))
    assert client.get(f"/api/users/{user.id}", headers=headers).json["username"] == "ada"
    assert_problem(client.get("/api/users/999", headers=headers), 404, "no-such-user")

    page = client.get("/api/users?page=2&page_size=5", headers=headers)
    assert [item["username"] for item in page.json] == [f"user{n}" for n in range(4, 9)]
    assert '"total": 13' in page.headers["X-Pagination"]
    assert_problem(client.get("/api/users?page_size=1000", headers=headers), 422)


@pytest.mark.settings(WTF_CSRF_ENABLED=True)
def test_csrf_applies_to_cookie_sessions_only(client, user):
    token = get_token(client)
    page = client.get("/auth/login")
    client.post(
        "/auth/login",
        data={"username": "ada", "password": "correct horse", "csrf_token": csrf_token(page)},
    )
    assert client.get("/api/users/me").json["username"] == "ada"  # the session cookie works

    change = {"username": "ada2"}
    refused = client.patch("/api/users/me", json=change)
    assert "CSRF" in assert_problem(refused, 400)["detail"]
    assert_problem(client.delete("/api/tokens"), 400)

    docs = client.get("/api/docs")
    headers = {"X-CSRFToken": csrf_token_of_docs(docs.text)}
    assert client.patch("/api/users/me", json=change, headers=headers).status_code == 200

    # A bearer token is never sent by a browser on its own: no CSRF token needed.
    response = client.patch("/api/users/me", json={"username": "ada3"}, headers=bearer(token))
    assert response.status_code == 200


def csrf_token_of_docs(html):
    return html.split('data-csrf-token="', 1)[1].split('"', 1)[0]


def test_unknown_api_url_and_method(client):
    assert assert_problem(client.get("/api/nothing"), 404, title="Not Found")["type"] == (
        "about:blank"  # a status with no more to say: RFC 9457's generic problem
    )
    response = client.put("/api/users/me")
    assert_problem(response, 405)
    assert "PATCH" in response.headers["Allow"]
    assert client.get("/nothing").content_type.startswith("text/html")  # pages stay HTML


def test_body_over_the_limit(client):
    body = '"' + "x" * (1024 * 1024) + '"'
    response = client.post("/api/tokens", data=body, content_type="application/json")
    assert_problem(response, 413)


def test_malformed_json(client):
    response = client.post(
        "/api/tokens", data="{not json", headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 400)


@pytest.mark.settings(RATELIMIT_ENABLED=True)
def test_token_requests_are_rate_limited_per_client(client):
    wrong = {"username": "ada", "password": "wrong"}
    statuses = [client.post("/api/tokens", json=wrong).status_code for _ in range(11)]
    assert statuses == [401] * 10 + [429]
    response = client.post("/api/tokens", json=wrong)
    assert_problem(response, 429)
    assert "Retry-After" in response.headers
    other = {"REMOTE_ADDR": "192.0.2.1"}
    assert client.post("/api/tokens", json=wrong, environ_base=other).status_code == 401


@pytest.mark.settings(RATELIMIT_ENABLED=True)
def test_the_login_form_and_the_api_share_one_budget_of_guesses(client):
    """10 a minute per client in all, not 10 on each (issue 21)."""
    wrong = {"username": "ada", "password": "wrong"}
    form = [login(client, password="wrong").status_code for _ in range(6)]
    api = [client.post("/api/tokens", json=wrong).status_code for _ in range(6)]
    assert form == [200] * 6 and api == [401] * 4 + [429] * 2
    assert login(client, password="wrong").status_code == 429


@pytest.mark.settings(RATELIMIT_ENABLED=True, ACCOUNT_GUESS_RATE_LIMIT="4 per hour")
def test_one_account_has_one_budget_on_the_form_and_the_api(client, user):
    wrong = {"username": "ada@example.com", "password": "wrong"}  # the address: same account
    assert login(client, password="wrong", remote_addr="192.0.2.1").status_code == 200
    assert login(client, password="wrong", remote_addr="192.0.2.2").status_code == 200
    answers = [
        client.post("/api/tokens", json=wrong, environ_base={"REMOTE_ADDR": f"192.0.2.{n}"})
        for n in range(3, 6)
    ]
    assert [answer.status_code for answer in answers] == [401, 401, 429]
    assert "Too many wrong passwords" in assert_problem(answers[-1], 429)["detail"]
    right = {"username": "ada", "password": "correct horse"}
    assert client.post("/api/tokens", json=right).status_code == 429


def test_only_administrators_list_the_users(client, user):
    headers = bearer(get_token(client))
    problem = assert_problem(client.get("/api/users", headers=headers), 403)
    assert "administrators" in problem["detail"]
    assert client.get(f"/api/users/{user.id}", headers=headers).status_code == 200
    user.is_admin = True
    db.session.commit()
    assert [item["username"] for item in client.get("/api/users", headers=headers).json] == ["ada"]


@pytest.mark.settings(TESTING=False, PROPAGATE_EXCEPTIONS=False)
def test_500_is_a_problem_without_internals(app, client):
    @app.get("/api/boom")
    def boom():
        raise ValueError("secret internals")

    body = assert_problem(client.get("/api/boom"), 500)
    assert "secret internals" not in str(body)


def test_503_when_the_database_is_unreachable():
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite:////nonexistent/folder/app.sqlite"})
    response = app.test_client().post("/api/tokens", json={"username": "a", "password": "b"})
    assert_problem(response, 503)


def test_openapi_document_lists_every_error_as_a_problem(client):
    spec = client.get("/api/openapi.json").json
    assert spec["openapi"].startswith("3.")
    responses = spec["components"]["responses"]
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            assert "default" not in operation["responses"], (method, path)
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    name = response["$ref"].rsplit("/", 1)[1]
                    assert list(responses[name]["content"]) == [PROBLEM], (method, path, status)


def test_openapi_document_marks_what_every_response_holds_as_required(client):
    """A client generated from the document types these fields as always present."""
    schemas = client.get("/api/openapi.json").json["components"]["schemas"]
    assert sorted(schemas["User"]["required"]) == ["created_at", "id", "username"]
    assert sorted(schemas["Token"]["required"]) == ["created_at", "expires_at", "id"]
    assert sorted(schemas["NewToken"]["required"]) == ["created_at", "expires_at", "id", "token"]
    assert sorted(schemas["Problem"]["required"]) == ["status", "title", "type"]
    assert "/api/problems/username-taken" in schemas["Problem"]["properties"]["type"]["enum"]


def test_docs_page_uses_only_this_sites_files(client):
    page = client.get("/api/docs")
    assert page.status_code == 200
    assert "<script>" not in page.text  # no inline script: a strict CSP allows none
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        with client.get(f"/api/docs/swagger-ui/{asset}") as response:
            assert response.status_code == 200
    # The site's policy refuses data: images: the stylesheet's icons come from this site.
    css = client.get("/api/docs/swagger-ui/swagger-ui.css").text
    assert "data:" not in css and "/api/docs/swagger-ui/icons/0" in css
    assert client.get("/api/docs/swagger-ui/icons/0").content_type.startswith("image/")
    with client.get("/api/docs/static/docs.js") as script:
        assert "SwaggerUIBundle" in script.text


def test_every_problem_type_the_document_lists_is_one_the_api_answers_with():
    """A problem type in the OpenAPI document is a promise to clients, who branch on it: each
    is named where the API raises it (not only in the list)."""
    package = Path(errors.__file__).parent
    raising = "".join(
        path.read_text() for path in package.glob("*.py") if path != Path(errors.__file__)
    )
    assert [name for name in errors.PROBLEMS if f'"{name}"' not in raising] == []
