"""Accounts: email address, verification, session token; ids never reused.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25

Usernames become lower case, the canonical form the app compares them in: two existing
accounts whose names differ only in case make this upgrade fail on the unique constraint,
to be resolved by hand. Accounts made before have no email address until they add one.
On SQLite the table is rebuilt with AUTOINCREMENT, so a deleted user's id is never reused.
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

user = sa.table(
    "user",
    sa.column("id", sa.Integer),
    sa.column("username", sa.String),
    sa.column("session_token", sa.String),
)


def batch():
    """Alter the user table; on SQLite, rebuild it with AUTOINCREMENT."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    return op.batch_alter_table(
        "user",
        recreate="always" if sqlite else "auto",
        table_kwargs={"sqlite_autoincrement": True},
    )


def upgrade():
    with batch() as table:
        table.add_column(sa.Column("email", sa.String(length=254), nullable=True))
        table.add_column(
            sa.Column("email_verified", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        table.add_column(sa.Column("session_token", sa.String(length=64), nullable=True))
        table.create_unique_constraint("uq_user_email", ["email"])

    connection = op.get_bind()
    for (user_id,) in connection.execute(sa.select(user.c.id)).all():
        token = secrets.token_urlsafe(32)
        connection.execute(user.update().where(user.c.id == user_id).values(session_token=token))
    connection.execute(user.update().values(username=sa.func.lower(user.c.username)))

    with batch() as table:
        table.alter_column("session_token", existing_type=sa.String(length=64), nullable=False)


def downgrade():
    with batch() as table:
        table.drop_constraint("uq_user_email", type_="unique")
        table.drop_column("session_token")
        table.drop_column("email_verified")
        table.drop_column("email")
