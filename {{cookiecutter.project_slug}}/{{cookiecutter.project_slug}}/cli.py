"""`flask` commands of this app."""

import click
from flask import Blueprint
from sqlalchemy import select

from .extensions import db
from .models import User

bp = Blueprint("cli", __name__, cli_group=None)


@bp.cli.command("create-user")
@click.argument("username")
@click.password_option(help="Asked for when not given.")
def create_user(username, password):
    """Create a user who can log in."""
    if db.session.scalar(select(User).filter_by(username=username)):
        raise click.ClickException(f"user {username!r} already exists")
    user = User(username=username)
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    click.echo(f"Created user {username!r} (id {user.id}).")
