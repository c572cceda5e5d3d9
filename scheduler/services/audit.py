"""The audit trail: who viewed, changed or exported personal data, and when.

Entries are added in the caller's transaction (a change and its audit entry commit together) and
never updated or deleted: the database refuses both (triggers, see models.py). `detail` is a short,
fixed description: never a CPR number, a name or health information; the patient is named by her
CPR digest (`patient_ref`) only. The client's address travels with the request's session
(`remember_client`), so services that record changes need not know about requests.
"""
from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from ..errors import N_, InvalidInput
from ..models import AuditEntry, Meeting, Participant, ParticipantRole, User
from ..schemas import CONTROL, MAX_EMAIL, MAX_ID, optional_day
from .reading import reading_connection
from .timeutil import day_start_utc

# action values
VIEW = "view"
CREATE = "create"
UPDATE = "update"
CANCEL = "cancel"
EXPORT = "export"
DELETE = "delete"
LOGIN = "login"
LOGIN_FAILED = "login_failed"
LOCKOUT = "lockout"  # too many failed logins in a row
REVOKE = "revoke"  # an API token withdrawn

# object types recorded here (others, e.g. users and API tokens, are recorded where they are managed)
MEETING = "meeting"
MEETING_LIST = "meeting_list"
UPTAKE_LOG = "uptake_log"
STATISTICS = "statistics"
AUDIT_TRAIL = "audit_trail"

# A meeting's history event -> the audit action; every other event changes the meeting.
EVENT_ACTIONS = {"booked": CREATE, "cancelled": CANCEL}
# The only details of a history event copied into the audit: fixed values, never free text.
EVENT_DETAILS = ("role", "status")

_CLIENT_IP = "audit_client_ip"


def remember_client(session: Session, *, ip: str | None) -> None:
    """The address of the request this session serves; entries recorded in it carry that address."""
    session.info[_CLIENT_IP] = ip


def record(session: Session, *, actor: User | None, action: str, object_type: str, now: datetime,
           object_id: str | int | None = None, meeting: Meeting | None = None, patient_ref: str | None = None,
           detail: str | None = None, actor_email: str | None = None) -> AuditEntry:
    """Add one entry to the session (the caller commits); `actor_email` names a failed login's e-mail.
    The address remembered for the session (remember_client), if any, is recorded with it."""
    entry = AuditEntry(
        at=now, user_id=actor.id if actor else None, user_email=actor.email if actor else actor_email,
        role=actor.role.value if actor else None, action=action, object_type=object_type,
        object_id=None if object_id is None else str(object_id)[:100],
        meeting_id=meeting.id if meeting is not None else None, patient_ref=patient_ref,
        detail=detail[:500] if detail else None, ip=session.info.get(_CLIENT_IP))
    session.add(entry)
    return entry


def patient_ref(session: Session, meeting: Meeting) -> str | None:
    """The meeting's patient as her CPR digest (None without a CPR number)."""
    return patient_refs(session, [meeting.id]).get(meeting.id)


def patient_refs(session: Session, meeting_ids: list[int]) -> dict[int, str]:
    """The patients of several meetings as CPR digests, in one query (meetings without one are left out)."""
    return dict(session.exec(select(Participant.meeting_id, Participant.cpr_digest).where(
        col(Participant.meeting_id).in_(meeting_ids), Participant.role == ParticipantRole.patient,
        col(Participant.cpr_digest).is_not(None))).all()) if meeting_ids else {}


def record_meeting(session: Session, *, actor: User | None, action: str, meeting: Meeting, now: datetime,
                   detail: str | None = None) -> AuditEntry:
    """An entry about one meeting, naming its patient by digest."""
    return record(session, actor=actor, action=action, object_type=MEETING, object_id=meeting.id, meeting=meeting,
                  patient_ref=patient_ref(session, meeting), now=now, detail=detail)


def record_change(session: Session, *, meeting: Meeting, event: str, actor: User | None, now: datetime,
                  details: Mapping[str, Any], by_link: bool = False) -> AuditEntry:
    """The audit entry of a history event of the meeting (booked, rescheduled, answered, outcome_recorded ...)."""
    parts = [event, *(f"{key}={details[key]}" for key in EVENT_DETAILS if details.get(key) is not None)]
    if by_link:
        parts.append("via=answer_link")
    return record_meeting(session, actor=actor, action=EVENT_ACTIONS.get(event, UPDATE), meeting=meeting, now=now,
                          detail=" ".join(parts))


def export_detail(*, start: date, end: date, municipality_codes: Sequence[str], fmt: str) -> str:
    """What an export of the uptake log or statistics covered (beyond 20 municipalities: how many)."""
    codes = ",".join(municipality_codes) if len(municipality_codes) <= 20 else str(len(municipality_codes))
    return f"from={start} to={end} municipalities={codes} format={fmt}"


# ---- searching and exporting the trail


PER_PAGE = 50
COLUMNS = ("at", "user_email", "role", "action", "object_type", "object_id", "meeting_id", "patient_ref", "detail",
           "ip")
_WORD = re.compile(r"[a-z_]{1,30}")
_CPR_LIKE = re.compile(r"\d{6}-?\d{4}")


@dataclass(frozen=True)
class AuditFilter:
    """Which entries to show: every criterion given must match. Dates are local days, both included."""

    email: str | None = None  # part of the user's e-mail, any case
    action: str | None = None
    object_type: str | None = None
    meeting_id: int | None = None
    start: date | None = None
    end: date | None = None

    def args(self) -> dict[str, str]:
        """As query arguments (links to other pages and to the export)."""
        values = {"email": self.email, "action": self.action, "object_type": self.object_type,
                  "meeting_id": self.meeting_id, "from": self.start, "to": self.end}
        return {key: str(value) for key, value in values.items() if value is not None}

    def describe(self) -> str:
        """For the audit entry of a search or an export."""
        return " ".join(f"{key}={value}" for key, value in self.args().items()) or "all"


def _date(args: Mapping[str, str], name: str, errors: dict[str, str]) -> date | None:
    try:
        return optional_day(args, name)
    except InvalidInput as error:  # every field's error at once, on the search form
        errors.update(error.fields)
        return None


def _word(args: Mapping[str, str], name: str, errors: dict[str, str]) -> str | None:
    value = (args.get(name) or "").strip()
    if value and not _WORD.fullmatch(value):
        errors[name] = N_("Kun små bogstaver og _")
    return value or None


def parse_filter(args: Mapping[str, str]) -> AuditFilter:
    """The filter from query arguments; InvalidInput naming every bad field."""
    errors: dict[str, str] = {}
    email = (args.get("email") or "").strip()
    if len(email) > MAX_EMAIL:
        errors["email"] = N_("Må højst være %(max_length)s tegn")
    elif CONTROL.search(email):
        errors["email"] = N_("Må ikke indeholde linjeskift eller kontroltegn")
    elif _CPR_LIKE.search(email):  # the search is recorded in the trail, which never holds a CPR number
        errors["email"] = N_("Søg efter en brugers e-mailadresse, ikke et CPR-nummer")
    meeting_id = None
    if (args.get("meeting_id") or "").strip():
        text = args["meeting_id"].strip()
        if text.isdigit() and 1 <= int(text) <= MAX_ID:
            meeting_id = int(text)
        else:
            errors["meeting_id"] = N_("Skriv mødets nummer")
    start, end = _date(args, "from", errors), _date(args, "to", errors)
    if start and end and end < start:
        errors["to"] = N_("Slutdatoen ligger før startdatoen")
    found = AuditFilter(email=email or None, action=_word(args, "action", errors),
                        object_type=_word(args, "object_type", errors), meeting_id=meeting_id, start=start, end=end)
    if errors:
        raise InvalidInput(N_("Ret felterne markeret nedenfor"), fields=errors, max_length=MAX_EMAIL)
    return found


def parse_page(value: str | None) -> int:
    text = (value or "1").strip()
    if not text.isdigit() or not 1 <= int(text) <= MAX_ID:
        raise InvalidInput(N_("Ugyldigt sidenummer"), field="page")
    return int(text)


def _filtered(query, found: AuditFilter, zone: ZoneInfo):  # type: ignore[no-untyped-def]
    if found.email:
        query = query.where(func.lower(AuditEntry.user_email).contains(found.email.lower(), autoescape=True))
    if found.action:
        query = query.where(AuditEntry.action == found.action)
    if found.object_type:
        query = query.where(AuditEntry.object_type == found.object_type)
    if found.meeting_id:
        query = query.where(AuditEntry.meeting_id == found.meeting_id)
    if found.start:
        query = query.where(AuditEntry.at >= day_start_utc(found.start, zone))
    if found.end:
        query = query.where(AuditEntry.at < day_start_utc(date.fromordinal(found.end.toordinal() + 1), zone))
    return query


def _newest_first(query):  # type: ignore[no-untyped-def]
    return query.order_by(col(AuditEntry.at).desc(), col(AuditEntry.id).desc())


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def search(session: Session, *, found: AuditFilter, zone: ZoneInfo, page: int = 1,
           per_page: int = PER_PAGE) -> AuditPage:
    """One page of the matching entries, newest first (a page past the end is empty)."""
    total = session.exec(_filtered(select(func.count()).select_from(AuditEntry), found, zone)).one()
    entries = session.exec(_newest_first(_filtered(select(AuditEntry), found, zone))
                           .offset((page - 1) * per_page).limit(per_page)).all()
    return AuditPage(entries=list(entries), total=total, page=page, per_page=per_page)


def export_rows(engine: Engine, *, found: AuditFilter, zone: ZoneInfo) -> Iterator[tuple[object, ...]]:
    """The matching entries, newest first, in COLUMNS order with local times, read as they are consumed."""
    query = _newest_first(_filtered(select(*(getattr(AuditEntry, name) for name in COLUMNS)), found, zone))
    with reading_connection(engine) as connection:
        for row in connection.execution_options(stream_results=True, yield_per=1000).execute(query):
            yield (row[0].astimezone(zone).isoformat(timespec="seconds"), *row[1:])
