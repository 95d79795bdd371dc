from sqlalchemy import select

from {{ cookiecutter.project_slug }}.extensions import db
from {{ cookiecutter.project_slug }}.models import User


def create_user(runner, *args, password="penguins on ice", stdin=None):
    options = [] if password is None else ["--password", password]
    return runner.invoke(args=["create-user", *args, *options], input=stdin)


def test_create_user(runner):
    result = create_user(runner, "linus", "linus@example.com")
    assert result.exit_code == 0, result.output
    assert "Created user 'linus'" in result.output
    user = db.session.scalar(select(User).filter_by(username="linus"))
    assert user.check_password("penguins on ice")
    assert user.email == "linus@example.com" and user.email_verified


def test_create_user_makes_an_administrator(runner):
    result = create_user(runner, "root", "root@example.com", "--admin")
    assert result.exit_code == 0, result.output
    assert "Created administrator 'root'" in result.output
    assert db.session.scalar(select(User).filter_by(username="root")).is_admin
    create_user(runner, "linus", "linus@example.com")
    assert not db.session.scalar(select(User).filter_by(username="linus")).is_admin


def test_create_user_asks_for_the_password(runner):
    result = create_user(
        runner, "linus", "l@example.com", password=None, stdin="penguins on ice\n" * 2
    )
    assert result.exit_code == 0, result.output
    assert db.session.scalar(select(User).filter_by(username="linus")) is not None


def test_create_user_refuses_a_taken_name_before_asking_for_a_password(runner, user):
    for name in ["ada", "ADA", "Ａｄａ"]:
        result = create_user(runner, name, "new@example.com", password=None, stdin="")
        assert result.exit_code == 1
        assert "exists already" in result.output
        assert "Password" not in result.output


def test_create_user_refuses_a_taken_address(runner, user):
    result = create_user(runner, "grace", "Ada@Example.com")
    assert result.exit_code == 1
    assert "exists already" in result.output


def test_create_user_follows_the_sign_up_rules(runner):
    for args, message in [
        (["", "x@example.com"], "username '': Use 3 to 64"),
        (["bad name <script>", "x@example.com"], "username 'bad name <script>': Use 3 to 64"),
        (["linus\n", "x@example.com"], "Control characters"),
        (["linus", "not an address"], "email 'not an address'"),
    ]:
        result = create_user(runner, *args)
        assert result.exit_code == 1
        assert message in result.output
    assert db.session.scalar(select(User)) is None


def test_create_user_refuses_a_short_password_without_showing_it(runner):
    result = create_user(runner, "linus", "linus@example.com", password="short")
    assert result.exit_code == 1
    assert "password: Use 8 to 128 characters." in result.output
    assert "short" not in result.output.replace("password: Use", "")
    assert db.session.scalar(select(User)) is None


def test_set_admin_promotes_and_demotes_into_the_trail(runner, user):
    from {{ cookiecutter.project_slug }}.admin.models import AuditEvent

    result = runner.invoke(args=["set-admin", "ADA@example.com"])
    assert result.exit_code == 0, result.output
    assert "'ada' is an administrator now." in result.output
    assert db.session.get(User, user.id).is_admin
    again = runner.invoke(args=["set-admin", "ada"])
    assert "is an administrator already" in again.output
    last = runner.invoke(args=["set-admin", "ada", "--remove"])
    assert last.exit_code == 1 and "'ada' is the last administrator" in last.output
    second = User(username="grace", email="grace@example.com", is_admin=True)
    second.set_password("correct horse")
    db.session.add(second)
    db.session.commit()
    result = runner.invoke(args=["set-admin", "ada", "--remove"])
    assert result.exit_code == 0 and "'ada' is a plain user now." in result.output
    assert not db.session.get(User, user.id).is_admin
    events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [(e.actor_name, e.action, e.target_name, e.request_id) for e in events] == [
        ("(flask command)", "make-admin", "ada", None),
        ("(flask command)", "remove-admin", "ada", None),
    ]


def test_set_admin_names_a_missing_user(runner):
    for name in ["nobody", "bad\nname"]:
        result = runner.invoke(args=["set-admin", name])
        assert result.exit_code == 1
        assert "no user 'nobody'" in result.output or "Control characters" in result.output
