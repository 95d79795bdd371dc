from sqlalchemy import select

from {{ cookiecutter.project_slug }}.extensions import db
from {{ cookiecutter.project_slug }}.models import User


def test_create_user(runner):
    result = runner.invoke(args=["create-user", "linus", "--password", "penguin!"])
    assert result.exit_code == 0, result.output
    assert "Created user 'linus'" in result.output
    assert db.session.scalar(select(User).filter_by(username="linus")).check_password("penguin!")


def test_create_user_asks_for_the_password(runner):
    result = runner.invoke(args=["create-user", "linus"], input="penguin!\npenguin!\n")
    assert result.exit_code == 0, result.output
    assert db.session.scalar(select(User).filter_by(username="linus")) is not None


def test_create_user_refuses_a_duplicate(runner, user):
    result = runner.invoke(args=["create-user", "ada", "--password", "x"])
    assert result.exit_code == 1
    assert "already exists" in result.output
