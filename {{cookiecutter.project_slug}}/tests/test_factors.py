"""The second factors' server side: passkey ceremonies, authenticator codes, recovery codes."""

import time

import pyotp
import pytest
from authenticator import SoftAuthenticator

from {{ cookiecutter.project_slug }}.auth import factors
from {{ cookiecutter.project_slug }}.auth.factors import passkeys, recovery, totp
from {{ cookiecutter.project_slug }}.auth.factors.models import Passkey
from {{ cookiecutter.project_slug }}.extensions import db

SITE = {"BASE_URL": "https://app.example.com"}


@pytest.fixture
def request_ctx(app):
    with app.test_request_context("/"):
        yield


def site_authenticator(**kwargs):
    return SoftAuthenticator(origin="https://app.example.com", rp_id="app.example.com", **kwargs)


def enrol(user, device):
    passkey = passkeys.register(user, device.create(passkeys.registration_options(user)), "phone")
    db.session.commit()
    return passkey


@pytest.mark.settings(**SITE)
def test_a_passkey_registers_and_signs_in_alone(user, request_ctx):
    device = site_authenticator()
    enrol(user, device)
    assert factors.second_factors(user)
    answer = device.get(passkeys.authentication_options("sign-in"))
    used = passkeys.authenticate("sign-in", answer)
    assert used.user == user and used.sign_count == 1 and used.last_used_at


@pytest.mark.settings(**SITE)
def test_a_challenge_works_once(user, request_ctx):
    device = site_authenticator()
    enrol(user, device)
    answer = device.get(passkeys.authentication_options("sign-in"))
    passkeys.authenticate("sign-in", answer)
    with pytest.raises(passkeys.PasskeyError, match="no challenge"):
        passkeys.authenticate("sign-in", answer)
    passkeys.authentication_options("sign-in")  # a new challenge: the old answer is not for it
    with pytest.raises(passkeys.PasskeyError, match="challenge"):
        passkeys.authenticate("sign-in", answer)


@pytest.mark.settings(**SITE)
def test_a_challenge_serves_only_its_own_ceremony(user, request_ctx):
    device = site_authenticator()
    enrol(user, device)
    answer = device.get(passkeys.authentication_options("second"))
    with pytest.raises(passkeys.PasskeyError, match="no challenge"):
        passkeys.authenticate("sign-in", answer)


@pytest.mark.settings(**SITE)
@pytest.mark.parametrize(
    "elsewhere, refusal",
    [({"origin": "https://evil.example"}, "origin"), ({"rp_id": "evil.example"}, "RP ID")],
    ids=["another origin", "another relying party"],
)
def test_a_ceremony_for_another_site_is_refused(user, request_ctx, elsewhere, refusal):
    device = site_authenticator()
    options = passkeys.registration_options(user)
    with pytest.raises(passkeys.PasskeyError, match=refusal):
        passkeys.register(user, device.create(options, **elsewhere), "x")
    enrol(user, device)
    answer = device.get(passkeys.authentication_options("sign-in"), **elsewhere)
    with pytest.raises(passkeys.PasskeyError, match=refusal):
        passkeys.authenticate("sign-in", answer)


@pytest.mark.settings(**SITE)
def test_a_sign_counter_going_backwards_is_refused(user, request_ctx):
    device = site_authenticator()
    enrol(user, device)
    answer = device.get(passkeys.authentication_options("sign-in"), counter=5)
    passkeys.authenticate("sign-in", answer)
    db.session.commit()
    clone = device.get(passkeys.authentication_options("sign-in"), counter=3)
    with pytest.raises(passkeys.PasskeyError, match="sign count"):
        passkeys.authenticate("sign-in", clone)
    assert db.session.scalar(db.select(Passkey.sign_count)) == 5


@pytest.mark.settings(**SITE)
def test_a_passkey_alone_must_verify_its_user(user, request_ctx):
    device = site_authenticator(user_verified=False)
    device.user_verified = True
    enrol(user, device)
    device.user_verified = False  # touched, but no PIN or fingerprint
    answer = device.get(passkeys.authentication_options("sign-in"))
    with pytest.raises(passkeys.PasskeyError, match="verif"):
        passkeys.authenticate("sign-in", answer)
    # After the password, presence is enough.
    answer = device.get(passkeys.authentication_options("second", user), counter=2)
    assert passkeys.authenticate("second", answer, user).user == user


@pytest.mark.settings(**SITE)
def test_a_passkey_of_another_account_is_refused_as_a_second_factor(user, request_ctx):
    from {{ cookiecutter.project_slug }}.models import User

    other = User(username="bob", email="bob@example.com", password_hash="x")
    db.session.add(other)
    db.session.commit()
    device = site_authenticator()
    enrol(other, device)
    answer = device.get(passkeys.authentication_options("second", user))
    with pytest.raises(passkeys.PasskeyError, match="unknown"):
        passkeys.authenticate("second", answer, user)


def enrolled_totp(user):
    secret = totp.start(user)
    db.session.commit()
    assert totp.confirm(user, pyotp.TOTP(secret).at(time.time() - 30))
    db.session.commit()
    return secret


def test_a_totp_secret_is_stored_encrypted(user, request_ctx):
    secret = enrolled_totp(user)
    assert totp.enrolled(user) and factors.second_factors(user)
    assert secret not in user.totp.secret
    assert totp.secret_of(user.totp) == secret


def test_a_totp_code_works_once(user, request_ctx):
    secret = enrolled_totp(user)
    code = pyotp.TOTP(secret).now()
    assert totp.check(user, code)
    db.session.commit()
    assert not totp.check(user, code)  # replayed within its window
    assert not totp.check(user, pyotp.TOTP(secret).at(time.time() - 30))  # an older one
    assert not totp.check(user, "000000" if code != "000000" else "111111")


def test_a_wrong_totp_code_is_refused(user, request_ctx):
    secret = enrolled_totp(user)
    assert not totp.check(user, pyotp.TOTP(secret).at(time.time() + 600))
    assert not totp.check(user, "12345")
    assert not totp.check(user, "abcdef")


def test_an_unconfirmed_totp_is_no_factor(user, request_ctx):
    totp.start(user)
    db.session.commit()
    assert not totp.enrolled(user) and not factors.second_factors(user)


def test_totp_secrets_survive_a_secret_key_rotation(app, user, request_ctx):
    secret = enrolled_totp(user)
    old = app.config["SECRET_KEY"]
    app.config["SECRET_KEY"] = "a-new-secret-key-that-is-long-enough-too"
    app.config["SECRET_KEY_FALLBACKS"] = [old]
    before = user.totp.secret
    assert totp.check(user, pyotp.TOTP(secret).now())
    db.session.commit()
    assert user.totp.secret != before  # re-encrypted under the new key
    app.config["SECRET_KEY_FALLBACKS"] = []
    assert totp.secret_of(user.totp) == secret


def test_a_recovery_code_works_once(user, request_ctx):
    codes = recovery.generate(user)
    db.session.commit()
    assert len(set(codes)) == recovery.COUNT == recovery.left(user)
    assert recovery.use(user, codes[0].lower().replace("-", " "))
    db.session.commit()
    assert not recovery.use(user, codes[0])
    assert recovery.left(user) == recovery.COUNT - 1
    assert not recovery.use(user, "AAAA-BBBB-CCCC-DDDD")


def test_new_recovery_codes_replace_the_old(user, request_ctx):
    old = recovery.generate(user)
    db.session.commit()
    new = recovery.generate(user)
    db.session.commit()
    assert not recovery.use(user, old[1])
    assert recovery.use(user, new[1])
