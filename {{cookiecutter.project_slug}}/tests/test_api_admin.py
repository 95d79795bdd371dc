"""The admin area and the API (a project with the API only): an account's tokens are shown,
disabling it or ending its sessions ends them, and admin-only operations answer non-admins
with problem details."""

from test_admin import log_in, make_user
from test_api import assert_problem, bearer, get_token

from {{ cookiecutter.project_slug }}.extensions import db


def test_the_account_page_lists_its_api_tokens(app, client, user):
    make_user("grace", is_admin=True)
    log_in(client, "grace")
    page = client.get(f"/admin/users/{user.id}").text
    assert "API tokens" in page and "expires " not in page
    get_token(app.test_client())
    assert "expires " in client.get(f"/admin/users/{user.id}").text


def test_disabling_an_account_ends_its_tokens_and_refuses_new_ones(app, client, user):
    token = get_token(app.test_client())
    make_user("grace", is_admin=True)
    log_in(client, "grace")
    client.post(f"/admin/users/{user.id}/disable")
    assert_problem(app.test_client().get("/api/users/me", headers=bearer(token)), 401)
    refused = app.test_client().post(
        "/api/tokens", json={"username": "ada", "password": "correct horse"}
    )
    assert assert_problem(refused, 403)["detail"] == "This account is disabled."


def test_ending_the_sessions_ends_the_tokens(app, client, user):
    token = get_token(app.test_client())
    make_user("grace", is_admin=True)
    log_in(client, "grace")
    client.post(f"/admin/users/{user.id}/sessions")
    assert_problem(app.test_client().get("/api/users/me", headers=bearer(token)), 401)


def test_a_token_is_a_login(client, user):
    assert user.last_login_at is None
    get_token(client)
    db.session.refresh(user)
    assert user.last_login_at is not None


def test_only_administrators_use_the_admin_only_operation(app, client, user):
    token = get_token(client)
    problem = assert_problem(client.get("/api/users", headers=bearer(token)), 403)
    assert "administrators" in problem["detail"]
    runner = app.test_cli_runner()
    assert runner.invoke(args=["set-admin", "ada"]).exit_code == 0
    assert client.get("/api/users", headers=bearer(token)).status_code == 200
    make_user("grace", is_admin=True)  # ada is not the last administrator then
    assert runner.invoke(args=["set-admin", "ada", "--remove"]).exit_code == 0
    assert_problem(client.get("/api/users", headers=bearer(token)), 403)
