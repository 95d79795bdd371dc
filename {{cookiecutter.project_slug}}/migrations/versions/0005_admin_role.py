"""An administrator flag on accounts: every existing account starts as a plain user.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04

Make an administrator with `flask create-user --admin`.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    # Not in a batch: SQLite adds the column in place, and keeps the table's AUTOINCREMENT.
    op.add_column(
        "user", sa.Column("is_admin", sa.Boolean(), nullable=False, server_default=sa.false())
    )


def downgrade():
    with op.batch_alter_table("user", table_kwargs={"sqlite_autoincrement": True}) as table:
        table.drop_column("is_admin")
