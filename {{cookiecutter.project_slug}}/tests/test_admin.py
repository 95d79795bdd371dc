"""The admin area: only administrators reach it; each action works, ends what it must, and
goes into the audit trail, which nothing in the area can change."""

import pytest
import sqlalchemy as sa
from conftest import csrf_token, second_factor
from sqlalchemy import delete, select, update
from sqlalchemy.exc import DBAPIError

from {{ cookiecutter.project_slug }}.admin.models import AuditEvent
from {{ cookiecutter.project_slug }}.extensions import db
from {{ cookiecutter.project_slug }}.models import User

PAGES = ["/admin/", "/admin/users", "/admin/users?q=ada", "/admin/audit", "/admin/users/1"]
ACTIONS = ["disable", "enable", "sessions", "verification", "delete"]


CODES = {}  # the recovery codes of each administrator made here, to log in with


def make_user(name, **values):
    user = User(username=name, email=f"{name}@example.com", email_verified=True, **values)
    user.set_password("correct horse")
    db.session.add(user)
    db.session.commit()
    if user.is_admin:  # administrators need a second factor (ADMIN_REQUIRES_SECOND_FACTOR)
        CODES[name] = second_factor(user)
    return user


def log_in(client, name, csrf=False):
    """Log in with the password, and a recovery code when the account has factors."""
    data = {"username": name, "password": "correct horse"}
    if csrf:
        data["csrf_token"] = csrf_token(client.get("/auth/login"))
    response = client.post("/auth/login", data=data)
    assert response.status_code == 302, response.text
    if response.headers["Location"] == "/auth/second-factor":
        data = {"code": CODES[name].pop()}
        if csrf:
            data["csrf_token"] = csrf_token(client.get("/auth/second-factor"))
        response = client.post("/auth/second-factor", data=data)
        assert response.status_code == 302, response.text


@pytest.fixture
def admin(client, user):
    """grace, an administrator, logged in with `client`; `user` (ada) is another account."""
    grace = make_user("grace", is_admin=True)
    log_in(client, "grace")
    return grace


def trail():
    return [
        (e.actor_name, e.action, e.target_name) for e in db.session.scalars(select(AuditEvent))
    ]


@pytest.mark.parametrize("who", ["visitor", "user"])
def test_everyone_but_administrators_gets_a_404_everywhere(app, client, user, who):
    if who == "user":
        log_in(client, "ada")
    for path in PAGES:
        assert client.get(path).status_code == 404, path
    for action in ACTIONS:
        response = client.post(f"/admin/users/{user.id}/{action}", data={"username": "ada"})
        assert response.status_code == 404, action
    assert db.session.get(User, user.id).is_active
    assert trail() == []


@pytest.mark.settings(WTF_CSRF_ENABLED=True)
def test_a_non_administrator_gets_the_404_before_the_csrf_check(client, user):
    log_in_page = client.get("/auth/login")
    client.post(
        "/auth/login",
        data={
            "username": "ada",
            "password": "correct horse",
            "csrf_token": csrf_token(log_in_page),
        },
    )
    assert client.post(f"/admin/users/{user.id}/disable").status_code == 404


def test_the_layout_links_to_the_area_for_administrators_only(client, admin, user):
    assert 'href="/admin/users"' in client.get("/").text
    client.post("/auth/logout")
    log_in(client, "ada")
    assert "/admin" not in client.get("/").text


def test_list_and_search_accounts(client, admin, user):
    page = client.get("/admin/users")
    assert page.status_code == 200
    assert "ada@example.com" in page.text and "grace" in page.text
    found = client.get("/admin/users?q=ADA@Example")  # compared in canonical form
    assert "ada@example.com" in found.text and "grace@example.com" not in found.text
    assert "1 account found" in found.text
    for wildcard in ["%", "_"]:  # LIKE's wildcards are searched for as themselves
        assert "0 accounts found" in client.get(f"/admin/users?q={wildcard}").text


@pytest.mark.settings(ADMIN_PAGE_SIZE=2)
def test_accounts_come_a_page_at_a_time(client, admin, user):
    make_user("linus")
    first = client.get("/admin/users")
    assert "linus@example.com" not in first.text and "Page 1 of 2" in first.text
    assert 'href="/admin/users?page=2"' in first.text
    second = client.get("/admin/users?page=2")
    assert "linus@example.com" in second.text and "grace@example.com" not in second.text
    searched = client.get("/admin/users?q=example&page=1")
    assert 'href="/admin/users?page=2&amp;q=example"' in searched.text


@pytest.mark.parametrize(
    "query",
    [
        "?page=0",
        "?page=-1",
        "?page=3",
        "?page=99999999999999999999",
        "?q=%00",
        "?q=a%0Ab",
        "?q=" + "a" * 300,
        "?q=%ff%fe",
        "?page=abc",
        "?q=%25&page=2",
    ],
)
def test_no_input_breaks_the_list(client, admin, query):
    response = client.get("/admin/users" + query)
    assert response.status_code in {200, 404}, query
    if "q=%00" in query or "a%0Ab" in query:
        assert "Control characters are not allowed." in response.text


def test_an_accounts_state(client, admin, user):
    log_in(client.application.test_client(), "ada")  # ada logs in elsewhere
    page = client.get(f"/admin/users/{user.id}")
    assert page.status_code == 200
    for text in ["ada@example.com (verified)", "active", "Last login", "may be open"]:
        assert text in page.text
    assert "never" not in page.text.split("Last login")[1].split("</dd>")[0]
    assert client.get("/admin/users/999").status_code == 404
    assert client.get("/admin/users/99999999999").status_code == 404


def test_disable_ends_the_sessions_and_logins_of_the_account(app, client, admin, user):
    ada = app.test_client()
    log_in(ada, "ada")
    assert ada.get("/auth/account").status_code == 200
    response = client.post(f"/admin/users/{user.id}/disable", follow_redirects=True)
    assert "ada is disabled" in response.text
    assert "disabled since" in response.text
    assert ada.get("/auth/account").status_code == 302  # the copied session is over
    again = ada.post("/auth/login", data={"username": "ada", "password": "correct horse"})
    assert again.status_code == 403 and "This account is disabled" in again.text
    assert ada.get("/auth/account").status_code == 302
    assert trail() == [("grace", "disable", "ada")]

    response = client.post(f"/admin/users/{user.id}/enable", follow_redirects=True)
    assert "ada can log in again" in response.text
    log_in(ada, "ada")
    assert ada.get("/auth/account").status_code == 200
    assert trail()[-1] == ("grace", "enable", "ada")


def test_end_the_sessions_of_an_account(app, client, admin, user):
    ada = app.test_client()
    log_in(ada, "ada")
    response = client.post(f"/admin/users/{user.id}/sessions", follow_redirects=True)
    assert "Every session and token of ada has ended" in response.text
    assert ada.get("/auth/account").status_code == 302
    log_in(ada, "ada")  # not disabled: ada may log in again
    assert trail() == [("grace", "end-sessions", "ada")]


def test_resend_the_verification_mail(client, admin, outbox):
    bob = make_user("bob")
    bob.email_verified = False
    db.session.commit()
    page = client.get(f"/admin/users/{bob.id}")
    assert "Resend the verification mail" in page.text
    response = client.post(f"/admin/users/{bob.id}/verification", follow_redirects=True)
    assert "A new link went to bob@example.com" in response.text
    assert [message.recipients for message in outbox] == [["bob@example.com"]]
    assert trail() == [("grace", "resend-verification", "bob")]
    assert "resend-verification (sent)" in client.get("/admin/audit").text


def test_no_verification_mail_for_a_verified_address(client, admin, user, outbox):
    response = client.post(f"/admin/users/{user.id}/verification", follow_redirects=True)
    assert "no address waiting to be verified" in response.text
    assert outbox == [] and trail() == []


def test_delete_an_account_after_typing_its_name(client, admin, user):
    page = client.get(f"/admin/users/{user.id}/delete")
    assert "Type the username to confirm" in page.text
    wrong = client.post(f"/admin/users/{user.id}/delete", data={"username": "grace"})
    assert "not this account" in wrong.text and db.session.get(User, user.id) is not None
    response = client.post(
        f"/admin/users/{user.id}/delete", data={"username": "ada"}, follow_redirects=True
    )
    assert "The account ada is deleted" in response.text
    ada_id = user.id
    db.session.expire_all()
    assert db.session.get(User, ada_id) is None
    assert trail() == [("grace", "delete", "ada")]
    assert "ada" in client.get("/admin/audit").text  # the trail keeps the name


def test_administrators_cannot_lock_themselves_out_here(client, admin):
    for action, data in [("disable", {}), ("sessions", {}), ("delete", {"username": "grace"})]:
        response = client.post(
            f"/admin/users/{admin.id}/{action}", data=data, follow_redirects=True
        )
        assert "use your account page" in response.text, action
    assert client.get("/admin/users").status_code == 200
    assert trail() == []


def test_the_trail_shows_who_what_whom_when_and_the_request_id(client, admin, user):
    response = client.post(f"/admin/users/{user.id}/disable")
    request_id = response.headers["X-Request-ID"]
    event = db.session.scalar(select(AuditEvent))
    assert (event.actor_id, event.target_id, event.request_id) == (admin.id, user.id, request_id)
    page = client.get("/admin/audit")
    for text in ["grace", "disable", "ada", request_id, event.created_at.strftime("%Y-%m-%d")]:
        assert text in page.text


def test_the_trail_is_never_changed(client, admin, user):
    client.post(f"/admin/users/{user.id}/disable")
    event = db.session.scalar(select(AuditEvent))
    event.action = "nothing"
    with pytest.raises(PermissionError):
        db.session.commit()
    db.session.rollback()
    db.session.delete(db.session.scalar(select(AuditEvent)))
    with pytest.raises(PermissionError):
        db.session.commit()
    db.session.rollback()
    for method in ("post", "put", "delete"):
        assert getattr(client, method)("/admin/audit").status_code == 405


def test_the_database_refuses_to_change_the_trail(client, admin, user):
    """Bulk statements, which the ORM's check never sees, fail in the database itself."""
    client.post(f"/admin/users/{user.id}/disable")
    for statement in (
        update(AuditEvent).values(action="nothing"),
        delete(AuditEvent),
        sa.text("UPDATE audit_event SET target_name = 'nobody'"),
    ):
        with pytest.raises(DBAPIError, match="only added to"):
            db.session.execute(statement)
        db.session.rollback()
    assert trail() == [("grace", "disable", "ada")]


def test_another_administrator_is_disabled_or_deleted_only_with_your_password(client, admin):
    other = make_user("alan", is_admin=True)
    page = client.get(f"/admin/users/{other.id}").text
    assert 'name="current_password"' in page
    for action in ("disable", "sessions"):
        for password in (None, "wrong"):
            data = {"current_password": password} if password else {}
            response = client.post(
                f"/admin/users/{other.id}/{action}", data=data, follow_redirects=True
            )
            assert "type your own password" in response.text, (action, password)
    delete_page = client.get(f"/admin/users/{other.id}/delete").text
    assert "Your own password" in delete_page
    data = {"username": "alan", "current_password": "wrong"}
    refused = client.post(f"/admin/users/{other.id}/delete", data=data)
    assert "That is not your password" in refused.text
    assert trail() == [] and db.session.get(User, other.id).is_active
    data["current_password"] = "correct horse"
    client.post(f"/admin/users/{other.id}/disable", data={"current_password": "correct horse"})
    client.post(f"/admin/users/{other.id}/delete", data=data)
    assert trail() == [("grace", "disable", "alan"), ("grace", "delete", "alan")]


def test_a_plain_account_needs_no_password_to_act_on(client, admin, user):
    assert 'name="current_password"' not in client.get(f"/admin/users/{user.id}").text
    assert "Your own password" not in client.get(f"/admin/users/{user.id}/delete").text


def test_the_last_administrator_cannot_delete_its_account(client, admin):
    response = client.post(
        "/auth/delete-account", data={"current_password": "correct horse"}, follow_redirects=True
    )
    assert "You are the last administrator" in response.text
    grace = admin.id
    assert db.session.get(User, grace) is not None
    make_user("alan", is_admin=True)
    response = client.post("/auth/delete-account", data={"current_password": "correct horse"})
    assert response.headers["Location"] == "/"
    db.session.expire_all()
    assert db.session.get(User, grace) is None


@pytest.mark.settings(WTF_CSRF_ENABLED=True)
def test_every_action_needs_the_csrf_token(client, user):
    make_user("grace", is_admin=True)
    log_in(client, "grace", csrf=True)
    for action in ACTIONS:
        response = client.post(f"/admin/users/{user.id}/{action}", data={"username": "ada"})
        assert response.status_code == 400, action
    assert db.session.get(User, user.id).is_active and trail() == []
    page = client.get(f"/admin/users/{user.id}")
    response = client.post(
        f"/admin/users/{user.id}/disable", data={"csrf_token": csrf_token(page)}
    )
    assert response.status_code == 302
    db.session.refresh(user)
    assert not user.is_active


@pytest.mark.settings(RATELIMIT_ENABLED=True, ADMIN_RATE_LIMIT="3 per minute")
def test_actions_are_rate_limited(client, admin, user):
    statuses = [client.post(f"/admin/users/{user.id}/sessions").status_code for _ in range(4)]
    assert statuses == [302, 302, 302, 429]
    assert client.get("/admin/users").status_code == 200  # pages are not actions
