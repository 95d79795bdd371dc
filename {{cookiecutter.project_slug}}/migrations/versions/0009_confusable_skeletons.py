"""Confusable skeletons of usernames and addresses, unique: no look-alike of an account.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07

Each account gets the Unicode TR39 skeletons of its username and address (auth/rules.py),
under unique constraints, so a new name or address that only looks like an existing one
(`r00t`, an all-Cyrillic domain) is refused as taken. Where two existing accounts already look
alike, the later one keeps its name and address but no skeleton: nobody new can join them.
"""

import importlib

import sqlalchemy as sa
from alembic import op
from flask import current_app

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

user = sa.table(
    "user",
    sa.column("id", sa.Integer),
    sa.column("username", sa.String),
    sa.column("email", sa.String),
    sa.column("username_skeleton", sa.String),
    sa.column("email_skeleton", sa.String),
)


def upgrade():
    op.add_column("user", sa.Column("username_skeleton", sa.String(length=256), nullable=True))
    op.add_column("user", sa.Column("email_skeleton", sa.String(length=1024), nullable=True))
    skeleton = importlib.import_module(f"{current_app.import_name}.auth.rules").skeleton
    connection = op.get_bind()
    seen = {"username": set(), "email": set()}
    rows = connection.execute(sa.select(user.c.id, user.c.username, user.c.email).order_by("id"))
    for user_id, *values in rows.all():
        found = {}
        for key, value in zip(("username", "email"), values, strict=True):
            if value is not None and (shape := skeleton(value)) not in seen[key]:
                seen[key].add(shape)
                found[f"{key}_skeleton"] = shape
        if found:
            connection.execute(user.update().where(user.c.id == user_id).values(**found))
    with op.batch_alter_table("user") as batch_op:
        batch_op.create_index("ix_user_username_skeleton", ["username_skeleton"], unique=True)
        batch_op.create_index("ix_user_email_skeleton", ["email_skeleton"], unique=True)


def downgrade():
    with op.batch_alter_table("user") as batch_op:
        batch_op.drop_index("ix_user_email_skeleton")
        batch_op.drop_index("ix_user_username_skeleton")
        batch_op.drop_column("email_skeleton")
        batch_op.drop_column("username_skeleton")
