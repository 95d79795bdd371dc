"""The admin area: disabled accounts, last logins, and the audit trail of admin actions.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04

Every existing account stays as it was: the new columns start empty (not disabled, no login
noted yet). The trail keeps ids and names as they were, with no foreign key, so deleting an
account changes no line of it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

USER_COLUMNS = ("disabled_at", "last_login_at", "sessions_ended_at")


def upgrade():
    # Not in a batch: SQLite adds the columns in place, and keeps the table's AUTOINCREMENT.
    for name in USER_COLUMNS:
        op.add_column("user", sa.Column(name, sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "audit_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_name", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=True),
        sa.Column("target_name", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("detail", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("audit_event") as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_event_target_id"), ["target_id"], unique=False)


def downgrade():
    op.drop_table("audit_event")
    with op.batch_alter_table("user", table_kwargs={"sqlite_autoincrement": True}) as table:
        for name in reversed(USER_COLUMNS):
            table.drop_column(name)
