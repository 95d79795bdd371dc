"""Record an administrator's action in the trail (and the log), in the caller's transaction."""

from flask import current_app, g, has_request_context
from flask_login import current_user

from ..extensions import db
from ..models import User
from .models import AuditEvent

COMMAND = "(flask command)"  # the actor of a change made with `flask set-admin`


def record(action: str, target: User, detail: str | None = None) -> None:
    """Add a line for `action` on the user `target`; the caller commits with its change."""
    in_request = has_request_context() and current_user.is_authenticated
    actor = current_user._get_current_object() if in_request else None
    request_id = g.get("request_id") if has_request_context() else None
    db.session.add(
        AuditEvent(
            actor_id=actor.id if actor else None,
            actor_name=actor.username if actor else COMMAND,
            action=action,
            target_id=target.id,
            target_name=target.username,
            request_id=request_id,
            detail=detail,
        )
    )
    current_app.logger.info(
        "admin action %s on user %s by %s", action, target.id, actor.id if actor else "command"
    )
