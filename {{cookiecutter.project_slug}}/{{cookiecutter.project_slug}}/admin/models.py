"""The audit trail: one row per administrator action, added and never changed."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, String, event
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
