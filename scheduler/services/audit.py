"""The audit trail: who viewed, changed or exported personal data, and when.

Entries are added in the caller's transaction (a change and its audit entry commit together) and
never updated or deleted by the app. `detail` is a short, fixed description: never a CPR number,
a name or health information; the patient is named by her CPR digest (`patient_ref`) only.
"""
from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from ..models import AuditEntry, Meeting, User

# action values
VIEW = "view"
CREATE = "create"
UPDATE = "update"
CANCEL = "cancel"
EXPORT = "export"
DELETE = "delete"
LOGIN = "login"
LOGIN_FAILED = "login_failed"


def record(session: Session, *, actor: User | None, action: str, object_type: str, now: datetime,
           object_id: str | int | None = None, meeting: Meeting | None = None, patient_ref: str | None = None,
           detail: str | None = None, ip: str | None = None, actor_email: str | None = None) -> AuditEntry:
    """Add one entry to the session (the caller commits); `actor_email` names a failed login's e-mail."""
    entry = AuditEntry(
        at=now, user_id=actor.id if actor else None, user_email=actor.email if actor else actor_email,
        role=actor.role.value if actor else None, action=action, object_type=object_type,
        object_id=None if object_id is None else str(object_id)[:100],
        meeting_id=meeting.id if meeting is not None else None, patient_ref=patient_ref,
        detail=detail[:500] if detail else None, ip=ip)
    session.add(entry)
    return entry
