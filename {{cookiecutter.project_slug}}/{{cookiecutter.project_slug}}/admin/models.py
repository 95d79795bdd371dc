"""The audit trail: one row per administrator action, added and never changed.

The ORM refuses to change or delete a row (below), and the database itself refuses any UPDATE,
DELETE or TRUNCATE of the table, whoever sends it (a bulk `update()`, a psql session with the
app's role): triggers, made by migration 0007 and, for databases made by `db.create_all()`
(the tests), by the same statements below. Only dropping the triggers, which needs the
table's owner, opens it; see docs/security.md for a role of its own for the app.
"""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DDL, DateTime, String, event
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db


class AuditEvent(db.Model):  # type: ignore[name-defined]  # db.Model: made at run time
    """Who did what to whom, when, in which request.

    Ids and names are copied, with no foreign key: deleting an account changes no line.
    """

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=lambda: datetime.now(UTC)
    )
    actor_id: Mapped[int | None]  # None: a `flask` command
    actor_name: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[int | None] = mapped_column(index=True)
    target_name: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(128))  # as in the logs (logs.py)
    detail: Mapped[str | None] = mapped_column(String(200))


@event.listens_for(AuditEvent, "before_update")
@event.listens_for(AuditEvent, "before_delete")
def refuse_changes(mapper: Any, connection: Any, target: Any) -> None:
    raise PermissionError("the audit trail is never changed, only added to")


REFUSED = "the audit trail is never changed, only added to"
APPEND_ONLY = {
    "sqlite": [
        f"CREATE TRIGGER audit_event_no_{verb} BEFORE {verb.upper()} ON audit_event "
        f"BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END"
        for verb in ("update", "delete")
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN RAISE EXCEPTION '{REFUSED}'; END $$",
        "CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE OR TRUNCATE "
        "ON audit_event FOR EACH STATEMENT EXECUTE FUNCTION audit_event_append_only()",
    ],
}
for dialect, statements in APPEND_ONLY.items():
    for statement in statements:
        ddl = DDL(statement).execute_if(dialect=dialect)  # type: ignore[no-untyped-call]
        event.listen(AuditEvent.__table__, "after_create", ddl)
