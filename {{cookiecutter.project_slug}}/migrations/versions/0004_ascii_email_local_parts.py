"""Addresses with non-ASCII characters before the @ are removed from their accounts.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04

Sign-up took such addresses (`bоb@example.com` with a Cyrillic `о`), but no mail could be
sent to them, so their accounts could never be verified nor log in. Without an address such
an account logs in with its username and password, like the accounts made before addresses
were asked for, and can add a new address on its account page. The addresses cannot come back
on a downgrade.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"  # "0002" in a project without the API (the bake rewrites it)
branch_labels = None
depends_on = None

user = sa.table(
    "user",
    sa.column("id", sa.Integer),
    sa.column("email", sa.String),
    sa.column("email_verified", sa.Boolean),
)


def upgrade():
    connection = op.get_bind()
    rows = connection.execute(sa.select(user.c.id, user.c.email).where(user.c.email.is_not(None)))
    for user_id, email in rows.all():
        if not email.rpartition("@")[0].isascii():
            connection.execute(
                user.update().where(user.c.id == user_id).values(email=None, email_verified=False)
            )


def downgrade():
    pass
