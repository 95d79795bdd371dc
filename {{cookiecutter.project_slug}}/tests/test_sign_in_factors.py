"""The second factors' pages: the login's second step, a passkey alone, adding and removing
factors, the fresh check before sensitive actions, and /admin's rules."""

import re
import time
from pathlib import Path

import pyotp
import pytest
from authenticator import SoftAuthenticator
from conftest import second_factor
from sqlalchemy import select

from {{ cookiecutter.project_slug }}.admin.models import AuditEvent
from {{ cookiecutter.project_slug }}.auth.factors import totp
from {{ cookiecutter.project_slug }}.auth.factors.fresh import KEY
from {{ cookiecutter.project_slug }}.auth.factors.models import Passkey
from {{ cookiecutter.project_slug }}.extensions import db


def password_step(client, username="ada"):
    return client.post("/auth/login", data={"username": username, "password": "correct horse"})


def logged_in(client):
    return client.get("/auth/account").status_code == 200


def enrol_totp(client):
    """Through the pages: the QR page's key, then a code; returns (secret, recovery codes)."""
    page = client.get("/auth/totp")
    assert page.status_code == 200
    assert "<svg" in page.text and "style=" not in page.text.split("<svg", 1)[1].split("</svg")[0]
    secret = re.search(r"data-totp-secret>([A-Z2-7]+)<", page.text).group(1)
    done = client.post("/auth/totp", data={"code": pyotp.TOTP(secret).at(time.time() - 30)})
    assert done.status_code == 200 and "Your recovery codes" in done.text
    codes = re.findall(r"<code>([A-Z2-7]{4}(?:-[A-Z2-7]{4}){3})</code>", done.text)
    assert len(codes) == 10
    return secret, codes


def test_enrol_totp_then_log_in_with_a_code(client, user, outbox):
    password_step(client)
    secret, _ = enrol_totp(client)
    assert "added" in outbox[-1].subject
    client.post("/auth/logout")
    response = password_step(client)
    assert response.headers["Location"] == "/auth/second-factor"
    assert not logged_in(client)  # the password alone is not enough now
    wrong = client.post("/auth/second-factor", data={"code": "000000"})
    assert "That code is not right" in wrong.text and not logged_in(client)
    code = pyotp.TOTP(secret).now()
    assert client.post("/auth/second-factor", data={"code": code}).status_code == 302
    assert logged_in(client)
    client.post("/auth/logout")
    password_step(client)
    replay = client.post("/auth/second-factor", data={"code": code})
    assert replay.status_code == 200 and not logged_in(client)


def test_a_recovery_code_logs_in_once(client, user):
    codes = second_factor(user)
    password_step(client)
    assert client.post("/auth/second-factor", data={"code": codes[0]}).status_code == 302
    assert logged_in(client)
    client.post("/auth/logout")
    password_step(client)
    again = client.post("/auth/second-factor", data={"code": codes[0]})
    assert again.status_code == 200 and not logged_in(client)


def test_the_second_step_needs_the_password_first(client, user):
    second_factor(user)
    assert client.get("/auth/second-factor").headers["Location"] == "/auth/login"


@pytest.mark.settings(RATELIMIT_ENABLED=True, ACCOUNT_GUESS_RATE_LIMIT="3 per hour")
def test_wrong_codes_spend_the_accounts_guesses(client, user):
    codes = second_factor(user)
    password_step(client)
    for _ in range(3):
        client.post("/auth/second-factor", data={"code": "AAAA-AAAA-AAAA-AAAA"})
    refused = client.post("/auth/second-factor", data={"code": codes[0]})
    assert "Too many" in refused.text and not logged_in(client)


def register_passkey(client, device, name="laptop"):
    options = client.post("/auth/passkeys/options", json={})
    assert options.status_code == 200, options.text
    done = client.post(f"/auth/passkeys?name={name}", json=device.create(options.json))
    assert done.status_code == 200, done.text
    return done


def test_a_passkey_alone_signs_in(client, user, outbox):
    password_step(client)
    device = SoftAuthenticator()
    register_passkey(client, device)
    assert "added" in outbox[-1].subject
    assert "laptop" in client.get("/auth/account").text
    client.post("/auth/logout")
    options = client.post("/auth/passkey-login/options", json={}).json
    assert options["allowCredentials"] == [] and options["userVerification"] == "required"
    done = client.post("/auth/passkey-login?next=/auth/account", json=device.get(options))
    assert done.json == {"next": "/auth/account"}
    assert logged_in(client)


def test_a_passkey_is_a_second_factor_after_the_password(client, user):
    password_step(client)
    device = SoftAuthenticator()
    register_passkey(client, device)
    client.post("/auth/logout")
    assert password_step(client).headers["Location"] == "/auth/second-factor"
    options = client.post("/auth/second-factor/options", json={}).json
    assert len(options["allowCredentials"]) == 1
    assert client.post("/auth/second-factor/passkey", json=device.get(options)).status_code == 200
    assert logged_in(client)


def test_a_refused_passkey_does_not_sign_in(client, user):
    password_step(client)
    device = SoftAuthenticator()
    register_passkey(client, device)
    client.post("/auth/logout")
    options = client.post("/auth/passkey-login/options", json={}).json
    answer = device.get(options, origin="https://evil.example")
    assert client.post("/auth/passkey-login", json=answer).status_code == 400
    assert not logged_in(client)


def test_removing_a_factor_ends_other_sessions_and_mails(app, client, user, outbox):
    password_step(client)
    register_passkey(client, SoftAuthenticator())
    passkey = db.session.scalar(select(Passkey))
    response = client.post(f"/auth/passkeys/{passkey.id}/delete")
    assert response.headers["Location"] == "/auth/account"
    assert db.session.scalar(select(Passkey)) is None
    assert "removed" in outbox[-1].subject
    assert logged_in(client)  # this session goes on


def test_removing_the_app_ends_a_session_elsewhere(app, client, user):
    password_step(client)
    enrol_totp(client)
    db.session.expire_all()
    elsewhere = app.test_client()
    password_step(elsewhere)
    code = pyotp.TOTP(totp.secret_of(user.totp)).now()
    elsewhere.post("/auth/second-factor", data={"code": code})
    assert logged_in(elsewhere)
    client.post("/auth/totp/delete")
    assert not logged_in(elsewhere)
    assert logged_in(client)


def age_the_check(client, seconds):
    with client.session_transaction() as session:
        session[KEY] -= seconds


def test_a_sensitive_action_asks_again_after_the_window(client, user):
    password_step(client)
    assert client.get("/auth/change-password").status_code == 200  # just logged in
    age_the_check(client, 11 * 60)
    response = client.get("/auth/change-password")
    assert response.headers["Location"] == "/auth/confirm?next=/auth/change-password"
    assert client.post("/auth/passkeys/options", json={}).status_code == 401
    wrong = client.post("/auth/confirm?next=/auth/change-password", data={"password": "nope"})
    assert wrong.status_code == 200
    right = client.post(
        "/auth/confirm?next=/auth/change-password", data={"password": "correct horse"}
    )
    assert right.headers["Location"] == "/auth/change-password"
    assert client.get("/auth/change-password").status_code == 200


def test_an_admin_without_a_second_factor_is_sent_to_add_one(client, user):
    user.is_admin = True
    db.session.commit()
    password_step(client)
    response = client.get("/admin/users")
    assert response.headers["Location"] == "/auth/account"
    second_factor(user)
    assert client.get("/admin/users").status_code == 200


@pytest.mark.settings(ADMIN_REQUIRES_SECOND_FACTOR=False)
def test_the_rule_can_be_relaxed_for_development(client, user):
    user.is_admin = True
    db.session.commit()
    password_step(client)
    assert client.get("/admin/users").status_code == 200


def test_admin_actions_ask_again_after_the_window(client, user):
    from {{ cookiecutter.project_slug }}.models import User

    user.is_admin = True
    codes = second_factor(user)
    bob = User(username="bob", email="bob@example.com", email_verified=True)
    bob.set_password("correct horse")
    db.session.add(bob)
    db.session.commit()
    password_step(client)
    client.post("/auth/second-factor", data={"code": codes[0]})
    age_the_check(client, 11 * 60)
    page = f"http://localhost/admin/users/{bob.id}"
    response = client.post(f"/admin/users/{bob.id}/sessions", headers={"Referer": page})
    assert response.headers["Location"] == f"/auth/confirm?next=/admin/users/{bob.id}"
    assert db.session.scalar(select(AuditEvent)) is None


def test_an_admin_resets_a_users_factors(client, user, outbox):
    from {{ cookiecutter.project_slug }}.models import User

    second_factor(user)
    grace = User(username="grace", email="grace@example.com", email_verified=True, is_admin=True)
    grace.set_password("correct horse")
    db.session.add(grace)
    db.session.commit()
    codes = second_factor(grace)
    password_step(client, "grace")
    client.post("/auth/second-factor", data={"code": codes[0]})
    response = client.post(f"/admin/users/{user.id}/factors")
    assert response.status_code == 302
    db.session.expire_all()
    assert user.totp is None and user.recovery_codes == []
    event = db.session.scalar(select(AuditEvent))
    assert (event.actor_name, event.action, event.target_name) == ("grace", "reset-factors", "ada")
    assert outbox[-1].recipients == ["ada@example.com"] and "removed" in outbox[-1].subject


def test_the_login_page_offers_passkeys_in_the_autofill(client):
    page = client.get("/auth/login").text
    assert 'autocomplete="username webauthn"' in page
    assert 'data-passkey="sign-in"' in page and "passkeys.js" in page


def test_workers_load_the_factors_libraries_only_when_used():
    """py_webauthn, cryptography, pyotp and segno cost a worker about 15 MiB: the login page
    and the home page do not load them (a fresh interpreter, as a Gunicorn worker)."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from {{ cookiecutter.project_slug }} import create_app\n"
        "client = create_app('testing').test_client()\n"
        "client.get('/'); client.get('/auth/login')\n"
        "print(sorted({'webauthn', 'cryptography', 'pyotp', 'segno'} & set(sys.modules)))\n"
    )
    project = Path(__file__).parent.parent
    command = [sys.executable, "-c", script]  # our own script: S603 is about others' input
    result = subprocess.run(command, cwd=project, capture_output=True, text=True, check=True)  # noqa: S603
    assert result.stdout.strip() == "[]"
