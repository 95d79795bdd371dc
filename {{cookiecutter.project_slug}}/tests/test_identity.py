"""One identity per person: canonical names and addresses under unique constraints, and
input that gets a form error, never a server error."""

import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from test_auth import login, register

from {{ cookiecutter.project_slug }} import create_app
from {{ cookiecutter.project_slug }}.auth import rules
from {{ cookiecutter.project_slug }}.extensions import db
from {{ cookiecutter.project_slug }}.models import User


def test_look_alike_usernames_are_one(client, user):
    for name in ["Ada", "ADA", "Ａｄａ", " ada "]:
        response = register(client, username=name, email="other@example.com")
        assert "That username is taken." in response.text, name
    assert db.session.scalar(select(func.count()).select_from(User)) == 1


def test_addresses_compare_without_case(client, user, outbox):
    register(client, username="grace", email="ADA@EXAMPLE.COM")
    assert db.session.scalar(select(func.count()).select_from(User)) == 1
    (mail,) = outbox  # to the owner, who has an account already
    assert mail.recipients == ["ada@example.com"] and "already" in mail.body


@pytest.mark.parametrize("address", ["b\u043eb@example.com", "\ua731@example.com"])
def test_addresses_with_non_ascii_before_the_at_are_refused(client, outbox, address):
    """A Cyrillic o, a small capital S: no mail could reach them (issue 21)."""
    response = register(client, username="bob", email=address)
    assert response.status_code == 200
    assert "Internationalized characters before the @-sign are not supported" in response.text
    assert db.session.scalar(select(User)) is None and outbox == []


def test_internationalised_domains_are_accepted(client, outbox):
    assert register(client, username="bob", email="bob@ex\u00e4mple.com").status_code == 302
    assert db.session.scalar(select(User.email)) == "bob@ex\u00e4mple.com"
    (mail,) = outbox
    assert mail.recipients == ["bob@ex\u00e4mple.com"]


def test_names_are_stored_in_canonical_form(client, outbox):
    register(client, username="Grace.Hopper", email="Grace@Navy.Example")
    user = db.session.scalar(select(User))
    assert (user.username, user.email) == ("grace.hopper", "grace@navy.example")


def test_bad_usernames_are_refused(client):
    for name in ["grace\n", "gr", "bad name <script>", "", "g" * 65, "grâce"]:
        response = register(client, username=name, email="grace@example.com")
        assert response.status_code == 200, name
    assert db.session.scalar(select(User)) is None


def test_the_pattern_does_not_take_a_final_newline():
    with pytest.raises(rules.InvalidValue):
        rules.check_username("grace\n")


def test_control_characters_in_any_sign_up_field_are_a_form_error(client):
    for field in ["username", "email", "password", "confirm"]:
        for character in ["\x00", "\n", "\x1b"]:
            data = {"username": "grace", "email": "grace@example.com"}
            data |= {"password": "compiler of 1952", "confirm": "compiler of 1952"}
            data[field] = data[field][:3] + character + data[field][3:]
            response = client.post("/auth/register", data=data)
            assert response.status_code == 200
            assert "Control characters are not allowed." in response.text, (field, character)
    assert db.session.scalar(select(User)) is None


def test_a_nul_byte_in_the_login_form_is_a_form_error(client, user):
    for field in ["username", "password"]:
        data = {"username": "ada", "password": "correct horse"}
        data[field] += "\x00"
        response = client.post("/auth/login", data=data)
        assert response.status_code == 200
        assert "Control characters are not allowed." in response.text, field


def test_the_database_refuses_a_second_account_with_one_name(app, user):
    """The unique constraint decides, not only a look-up before the insert."""
    db.session.add(User(username="ada", email="other@example.com", password_hash="x"))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    db.session.add(User(username="bob", email="ada@example.com", password_hash="x"))
    with pytest.raises(IntegrityError):
        db.session.commit()


def test_concurrent_sign_ups_of_one_name_make_one_account(tmp_path):
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'app.sqlite'}"})
    with app.app_context():
        db.create_all()
    start = threading.Barrier(8)
    answers = []

    def sign_up(n):
        client = app.test_client()
        start.wait()
        answers.append(register(client, username="grace", email=f"g{n}@example.com"))

    threads = [threading.Thread(target=sign_up, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(response.status_code for response in answers)
    assert statuses == [200] * 7 + [302]
    assert all("That username is taken." in r.text for r in answers if r.status_code == 200)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 1


def test_logging_in_ignores_case(client, user):
    assert login(client, username="ADA").headers["Location"] == "/"


@pytest.mark.parametrize("name", ["admin", "Administrator", "postmaster", "ad.min_2", "root"])
def test_reserved_names_are_refused_at_sign_up(client, name):
    """Issue 33: `admin`, `administrator` and `postmaster` were free for anyone to take."""
    response = register(client, username=name, email="someone@example.com")
    assert "That username is reserved." in response.text
    assert db.session.scalar(select(func.count()).select_from(User)) == 0


def test_an_operator_may_take_a_reserved_name(runner):
    result = runner.invoke(
        args=["create-user", "admin", "admin@example.com", "--password", "a quiet heron at dawn"]
    )
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    "address",
    [
        "bob@\u0435xample.com",  # a Cyrillic е among Latin letters
        "bob@xn--xample-2of.com",  # the same, as punycode
        "bob@p\u0430ypal.com",  # a Cyrillic а
    ],
)
def test_look_alike_domains_are_refused(client, address):
    response = register(client, username="bob", email=address)
    assert "mixes letters of different alphabets" in response.text
    assert db.session.scalar(select(func.count()).select_from(User)) == 0


@pytest.mark.parametrize("address", ["ana@bücher.de", "ana@例え.jp", "ana@παράδειγμα.gr"])
def test_domains_in_one_script_are_welcome(address):
    assert rules.check_email(address).startswith("ana@")


def add_user(username, email):
    user = User(username=username, email=email, email_verified=True)
    user.set_password("correct horse")
    db.session.add(user)
    db.session.commit()
    return user


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("root", "r00t"),  # digits that read as letters
        ("lola", "1o1a"),
        ("bob@copy.example", "bob@\u0441\u043e\u0440\u0443.example"),  # an all-Cyrillic сору
        ("bob@\u0440\u0430\u0443.example", "bob@pay.example"),  # рау, then a Latin one
        ("ana@\u03bf\u03bf.example", "ana@oo.example"),  # Greek ο ο
    ],
)
def test_confusable_skeletons_are_one(one, other):
    """Unicode TR39: strings that differ only by look-alike characters, whichever scripts."""
    assert rules.skeleton(one) == rules.skeleton(other)


@pytest.mark.parametrize(("one", "other"), [("ada", "adam"), ("bill", "bi11y"), ("ana", "anna")])
def test_different_names_keep_different_skeletons(one, other):
    assert rules.skeleton(one) != rules.skeleton(other)


@pytest.mark.parametrize("name", ["l0la", "1ola", "lo1a", "LOLA"])
def test_usernames_that_only_look_like_one_taken_are_taken(client, name):
    add_user("lola", "lola@example.com")
    response = register(client, username=name, email="other@example.com")
    assert "That username is taken." in response.text, name
    assert db.session.scalar(select(func.count()).select_from(User)) == 1


@pytest.mark.parametrize(
    ("taken", "look_alike"),
    [
        # A whole-script confusable: every letter of the domain Cyrillic (сору), so no label
        # mixes alphabets, yet it reads as the Latin one.
        ("lola@copy.example", "lola@\u0441\u043e\u0440\u0443.example"),
        ("lola@\u0441\u043e\u0440\u0443.example", "lola@copy.example"),  # and the other way
        ("lola@example.com", "l0la@example.com"),
    ],
)
def test_an_address_that_looks_like_one_taken_makes_no_account(client, outbox, taken, look_alike):
    """Sign-up answers as for a free address (so it tells no one who has an account) and
    mails the owner of the address it looks like; no second account reads the same."""
    add_user("lola", taken)
    response = register(client, username="grace", email=look_alike)
    assert response.status_code == 302
    assert db.session.scalar(select(func.count()).select_from(User)) == 1
    (mail,) = outbox
    assert mail.recipients == [taken] and "already" in mail.body


def test_the_database_refuses_a_look_alike_of_an_account(app, user):
    """Also between two sign-ups at once: the skeletons are unique in the database."""
    for username, email in [("bob", "ada@examp1e.com"), ("ad\u0430", "bob@example.com")]:
        db.session.add(User(username=username, email=email, password_hash="x"))
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()


@pytest.mark.parametrize(
    ("name", "email"), [("l0la", "other@example.com"), ("other", "lola@examp1e.com")]
)
def test_the_command_line_refuses_a_look_alike_too(app, runner, name, email):
    add_user("lola", "lola@example.com")
    args = ["create-user", name, email, "--password", "a quiet heron at dawn"]
    assert "exists already" in runner.invoke(args=args).output
