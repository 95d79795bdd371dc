"""`flask` commands of this app."""

import functools
from collections.abc import Callable

import click
from flask import Blueprint
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from .auth import rules
from .extensions import db
from .models import User

bp = Blueprint("cli", __name__, cli_group=None)


def checked(check: Callable[[str], str], what: str, value: str) -> str:
    """Apply one of the web forms' rules, or stop with its message (a password unshown)."""
    try:
        return check(value)
    except rules.InvalidValue as error:
        shown = "" if what == "password" else f" {value!r}"
        raise click.ClickException(f"{what}{shown}: {error}") from None


@bp.cli.command("create-user")
@click.argument("username")
@click.argument("email")
@click.option("--password", help="Asked for when not given.")
@click.option("--admin", is_flag=True, help="An administrator (the admin area, GET /api/users).")
def create_user(username: str, email: str, password: str | None, admin: bool) -> None:
    """Create a user who can log in; the email address counts as verified.

    The same rules as the sign-up form apply.
    """
    # An operator may take a reserved name (`admin`) that the sign-up form refuses.
    own_name = functools.partial(rules.check_username, allow_reserved=True)
    username = checked(own_name, "username", username)
    email = checked(rules.check_email, "email", email)
    # Taken, or only looks like one taken (rules.skeleton: `r00t` beside `root`).
    taken = select(User.id).where(
        or_(
            User.username_skeleton == rules.skeleton(username),
            User.email_skeleton == rules.skeleton(email),
        )
    )
    if db.session.scalar(taken):  # say so before asking for a password
        raise click.ClickException(f"user {username!r} or address {email!r} exists already")
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    strong = functools.partial(rules.check_password, username=username, email=email)
    password = checked(strong, "password", password)
    user = User(username=username, email=email, email_verified=True, is_admin=admin)
    user.set_password(password)
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:  # made by someone else since the check above
        raise click.ClickException(
            f"user {username!r} or address {email!r} exists already"
        ) from None
    role = "administrator" if admin else "user"
    click.echo(f"Created {role} {username!r} (id {user.id}).")


@bp.cli.command("set-admin")
@click.argument("name")
@click.option("--remove", is_flag=True, help="Make the administrator a plain user again.")
def set_admin(name: str, remove: bool) -> None:
    """Make the user with this username or email an administrator (or, with --remove, not).

    Administrators reach /admin and GET /api/users. The change goes into the audit trail.
    """
    from .admin import audit

    name = rules.canonical(checked(rules.refuse_control_characters, "name", name))
    user = db.session.scalar(select(User).where(or_(User.username == name, User.email == name)))
    if user is None:
        raise click.ClickException(f"no user {name!r}")
    role = "a plain user" if remove else "an administrator"
    if user.is_admin == (not remove):
        click.echo(f"{user.username!r} is {role} already.")
        return
    if remove and user.is_last_admin():
        raise click.ClickException(
            f"{user.username!r} is the last administrator: make another one first"
        )
    user.is_admin = not remove
    audit.record("remove-admin" if remove else "make-admin", user)
    db.session.commit()
    click.echo(f"{user.username!r} is {role} now.")
