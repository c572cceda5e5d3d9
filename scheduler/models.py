"""Tables and enums. Times are aware UTC everywhere; local time only at the edges."""
from __future__ import annotations

import enum
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import DDL, Column, DateTime, Index, Text, TypeDecorator, UniqueConstraint, event
from sqlalchemy import Enum as SAEnum
from sqlmodel import Field, SQLModel


def now_utc() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Aware UTC in Python; naive UTC in SQLite, timestamptz in PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where an aware one is required")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class EncryptedText(TypeDecorator):
    """A string encrypted with the configured CPR keys (scheduler.crypto) before it is stored."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        from . import crypto

        return None if value is None else crypto.encrypt(value)

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        from . import crypto

        return None if value is None else crypto.decrypt(value)


def enum_column(enum_type: type[enum.Enum], **kwargs: Any) -> Column:
    """Store an enum by its value as a plain string (no native PostgreSQL enum to migrate)."""
    return Column(SAEnum(enum_type, native_enum=False, length=20, validate_strings=True,
                         values_callable=lambda e: [m.value for m in e]), **kwargs)


class Role(str, enum.Enum):
    secretary = "secretary"
    advisor = "advisor"
    coordinator = "coordinator"
    admin = "admin"


class ParticipantRole(str, enum.Enum):
    patient = "patient"
    relative = "relative"
    staff = "staff"
    advisor = "advisor"


class AnswerStatus(str, enum.Enum):
    """FHIR ParticipationStatus / iCalendar PARTSTAT."""

    needs_action = "needs-action"
    accepted = "accepted"
    declined = "declined"
    tentative = "tentative"


class MeetingStatus(str, enum.Enum):
    booked = "booked"
    confirmed = "confirmed"
    held = "held"
    no_show = "no_show"
    cancelled = "cancelled"


class MeetingOutcome(str, enum.Enum):
    held = "held"
    no_show = "no_show"
    cancelled_late = "cancelled_late"


class VideoStatus(str, enum.Enum):
    ready = "ready"
    pending = "pending"  # the provider could not be reached; a retry creates the link


class Municipality(SQLModel, table=True):
    code: str = Field(primary_key=True, max_length=4)
    name: str = Field(max_length=100)
    region_code: str = Field(max_length=10)
    region_name: str = Field(max_length=100)


class Hospital(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, unique=True)
    region_code: str | None = Field(default=None, max_length=10)


class Ward(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=40, unique=True)
    name: str = Field(max_length=200)
    hospital_id: int = Field(foreign_key="hospital.id", index=True)


class User(SQLModel, table=True):
    __tablename__ = "app_user"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, unique=True)
    name: str = Field(max_length=200)
    role: Role = Field(sa_column=enum_column(Role, nullable=False))
    password_hash: str | None = Field(default=None, max_length=300)
    municipality_code: str | None = Field(default=None, foreign_key="municipality.code", index=True)
    region_code: str | None = Field(default=None, max_length=10)  # a coordinator's region (else her municipality)
    language: str = Field(default="da", max_length=5)
    is_active: bool = Field(default=True)
    created_at: datetime = Field(default_factory=now_utc, sa_type=UTCDateTime)
    # login throttling: failures in a row, and the lock they caused
    failed_logins: int = Field(default=0)
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_login_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    password_changed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    # Flask-Login protocol
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return str(self.id)


class UserWard(SQLModel, table=True):
    """Which wards a secretary books for."""

    user_id: int = Field(foreign_key="app_user.id", primary_key=True)
    ward_id: int = Field(foreign_key="ward.id", primary_key=True)


class WorkingHours(SQLModel, table=True):
    """An advisor's own working hours; an advisor with none uses the config default."""

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    weekday: int = Field(ge=0, le=6)  # 0 = Monday
    start_time: time
    end_time: time


class Absence(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    start_at: datetime = Field(sa_type=UTCDateTime)
    end_at: datetime = Field(sa_type=UTCDateTime)
    reason: str | None = Field(default=None, max_length=200)


class ApiToken(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=now_utc, sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class LoginSession(SQLModel, table=True):
    """A signed-in browser session, so that logging out ends it on the server too: a copy of the cookie
    is worth nothing afterwards. Only the hash of the session's random id is stored."""

    __tablename__ = "login_session"

    token_hash: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    started_at: datetime = Field(sa_type=UTCDateTime)
    seen_at: datetime = Field(sa_type=UTCDateTime, index=True)  # to the minute (services/sessions.py)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Meeting(SQLModel, table=True):
    __table_args__ = (
        Index("ix_meeting_advisor_start", "advisor_id", "start_at"),
        # statistics: meetings of a period, read from the index alone
        Index("ix_meeting_stats", "start_at", "municipality_code", "status", "outcome"),
    )

    id: int | None = Field(default=None, primary_key=True)
    uid: str = Field(max_length=100, unique=True)
    status: MeetingStatus = Field(sa_column=enum_column(MeetingStatus, nullable=False, index=True))
    sequence: int = Field(default=0)
    start_at: datetime = Field(sa_type=UTCDateTime, index=True)
    end_at: datetime = Field(sa_type=UTCDateTime)
    discharge_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    municipality_code: str = Field(foreign_key="municipality.code", index=True)
    ward_id: int = Field(foreign_key="ward.id", index=True)
    advisor_id: int = Field(foreign_key="app_user.id")
    booked_by_id: int = Field(foreign_key="app_user.id")
    created_at: datetime = Field(default_factory=now_utc, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=now_utc, sa_type=UTCDateTime)
    cancel_reason: str | None = Field(default=None, max_length=500)
    needs_rebooking: bool = Field(default=False)  # the advisor declined: new advisor or time needed
    outcome: MeetingOutcome | None = Field(default=None, sa_column=enum_column(MeetingOutcome, nullable=True))
    advisor_note: str | None = Field(default=None, sa_column=Column(Text))  # free text: never exported
    patient_language: str = Field(default="da", max_length=5)
    meeting_type: str = Field(default="discharge", max_length=30)  # services/meeting_types.py
    # retention: when names, CPR, contacts and notes were removed (the pseudonymised rows stay)
    personal_data_removed_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)

    video_provider: str = Field(max_length=20)
    video_status: VideoStatus = Field(sa_column=enum_column(VideoStatus, nullable=False))
    video_join_url: str | None = Field(default=None, max_length=500)
    video_external_id: str | None = Field(default=None, max_length=100)
    video_sip_uri: str | None = Field(default=None, max_length=200)
    video_host_pin: str | None = Field(default=None, max_length=20)
    video_guest_pin: str | None = Field(default=None, max_length=20)
    video_error: str | None = Field(default=None, max_length=500)

    @property
    def is_cancelled(self) -> bool:
        return self.status == MeetingStatus.cancelled


class Participant(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    meeting_id: int = Field(foreign_key="meeting.id", index=True)
    role: ParticipantRole = Field(sa_column=enum_column(ParticipantRole, nullable=False))
    name: str = Field(max_length=200)
    email: str | None = Field(default=None, max_length=254, index=True)
    phone: str | None = Field(default=None, max_length=40)
    cpr: str | None = Field(default=None, sa_type=EncryptedText)  # encrypted at rest (scheduler.crypto)
    cpr_digest: str | None = Field(default=None, max_length=64, index=True)  # keyed hash; survives retention
    user_id: int | None = Field(default=None, foreign_key="app_user.id", index=True)
    status: AnswerStatus = Field(sa_column=enum_column(AnswerStatus, nullable=False))
    answered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    answer_comment: str | None = Field(default=None, max_length=500)


class MeetingEvent(SQLModel, table=True):
    """History of a meeting: who did what, when and why."""

    id: int | None = Field(default=None, primary_key=True)
    meeting_id: int = Field(foreign_key="meeting.id", index=True)
    at: datetime = Field(default_factory=now_utc, sa_type=UTCDateTime)
    actor_id: int | None = Field(default=None, foreign_key="app_user.id")
    action: str = Field(max_length=40)
    details: str | None = Field(default=None, sa_column=Column(Text))


class AuditEntry(SQLModel, table=True):
    """Who viewed, changed or exported personal data, when. Written by the app, never edited by it."""

    __tablename__ = "audit_entry"
    __table_args__ = (Index("ix_audit_entry_at", "at"), Index("ix_audit_entry_user_at", "user_id", "at"),
                      # the login counter of an unknown e-mail (services/users.py), and the search by e-mail
                      Index("ix_audit_entry_email_action_at", "user_email", "action", "at"))

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=now_utc, sa_type=UTCDateTime)
    user_id: int | None = Field(default=None)  # no FK: the entry outlives the user
    user_email: str | None = Field(default=None, max_length=254)
    role: str | None = Field(default=None, max_length=20)
    action: str = Field(max_length=30, index=True)  # view, create, update, cancel, export, login, ...
    object_type: str = Field(max_length=30)  # meeting, export, user, api_token, ...
    object_id: str | None = Field(default=None, max_length=100)
    meeting_id: int | None = Field(default=None, index=True)  # no FK: kept after retention
    patient_ref: str | None = Field(default=None, max_length=64)  # the patient's cpr_digest, never the CPR
    detail: str | None = Field(default=None, max_length=500)  # never CPR or health information
    ip: str | None = Field(default=None, max_length=45)


# The database itself refuses to change or remove an audit entry (migration 0005 creates the same triggers).
# TRUNCATE, which the test fixtures use to empty PostgreSQL, fires no UPDATE or DELETE trigger.
AUDIT_APPEND_ONLY = "audit_entry is append-only: entries cannot be changed or deleted"
AUDIT_TRIGGERS = {
    "sqlite": (
        "CREATE TRIGGER audit_entry_no_update BEFORE UPDATE ON audit_entry "
        f"BEGIN SELECT RAISE(ABORT, '{AUDIT_APPEND_ONLY}'); END",
        "CREATE TRIGGER audit_entry_no_delete BEFORE DELETE ON audit_entry "
        f"BEGIN SELECT RAISE(ABORT, '{AUDIT_APPEND_ONLY}'); END"),
    "postgresql": (
        "CREATE OR REPLACE FUNCTION audit_entry_refuse_change() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN RAISE EXCEPTION '{AUDIT_APPEND_ONLY}'; END $$",
        "CREATE TRIGGER audit_entry_append_only BEFORE UPDATE OR DELETE ON audit_entry "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_entry_refuse_change()"),
}
for _dialect, _statements in AUDIT_TRIGGERS.items():
    for _statement in _statements:
        event.listen(AuditEntry.__table__, "after_create", DDL(_statement).execute_if(dialect=_dialect))
event.listen(AuditEntry.__table__, "after_drop",
             DDL("DROP FUNCTION IF EXISTS audit_entry_refuse_change()").execute_if(dialect="postgresql"))


__all__ = [
    "AuditEntry", "EncryptedText", 
    "Absence", "AnswerStatus", "ApiToken", "BusyFeed", "BusyInterval", "CalendarFeed", "JobMark",
    "MeetingOutcome", "Offer", "OfferPresentation", "OfferResponse", "OutboxMessage", "UptakeStatus", "Hospital", "Meeting", "MeetingEvent", "MeetingStatus",
    "Municipality", "Participant", "ParticipantRole", "Role", "User", "UserWard", "UTCDateTime",
    "VideoStatus", "Ward", "WorkingHours", "now_utc",
]


class OutboxMessage(SQLModel, table=True):
    """An e-mail to send, written in the same transaction as the change that caused it."""

    __table_args__ = (Index("ix_outbox_due", "sent_at", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=now_utc, sa_type=UTCDateTime)
    kind: str = Field(max_length=30)  # invite, cancel, reminder, escalation, declined, ...
    meeting_id: int | None = Field(default=None, foreign_key="meeting.id", index=True)
    participant_id: int | None = Field(default=None)  # no FK: a removed participant still gets her CANCEL
    recipient: str = Field(max_length=254)
    subject: str = Field(max_length=300)
    message: str = Field(sa_column=Column(Text, nullable=False))  # the whole RFC 5322 message
    attempts: int = Field(default=0)
    next_attempt_at: datetime = Field(default_factory=now_utc, sa_type=UTCDateTime)
    claimed_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, max_length=500)


class JobMark(SQLModel, table=True):
    """A scheduled action done once (e.g. 'reminder:12:34:1440:2'); the primary key makes it once."""

    key: str = Field(primary_key=True, max_length=120)
    done_at: datetime = Field(default_factory=now_utc, sa_type=UTCDateTime)


class CalendarFeed(SQLModel, table=True):
    """A user's secret, revocable calendar-feed URL; only the token's hash is stored."""

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=now_utc, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class BusyFeed(SQLModel, table=True):
    """An advisor's own busy calendar (ICS URL) and the state of its last fetch."""

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", unique=True)
    url: str = Field(max_length=1000)
    fetched_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    ok_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    error: str | None = Field(default=None, max_length=500)
    etag: str | None = Field(default=None, max_length=200)


class BusyInterval(SQLModel, table=True):
    """A busy period from an advisor's busy feed: the last good copy, used by slot search."""

    __table_args__ = (Index("ix_busyinterval_user_start", "user_id", "start_at"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id")
    start_at: datetime = Field(sa_type=UTCDateTime)
    end_at: datetime = Field(sa_type=UTCDateTime)


class OfferResponse(str, enum.Enum):
    accepted = "accepted"
    declined = "declined"
    considering = "considering"
    referred = "referred"


class UptakeStatus(str, enum.Enum):
    started = "started"
    not_started = "not_started"
    unknown = "unknown"


class Offer(SQLModel, table=True):
    """One municipal offer in a municipality's catalogue. Retired by `active_to`, never deleted."""

    __table_args__ = (UniqueConstraint("municipality_code", "code"),)

    id: int | None = Field(default=None, primary_key=True)
    municipality_code: str = Field(foreign_key="municipality.code", index=True)
    code: str = Field(max_length=40)
    name: str = Field(max_length=200)
    category: str = Field(max_length=40)  # one of services/offers.py CATEGORIES
    description: str | None = Field(default=None, max_length=1000)
    referral_required: bool = Field(default=False)
    contact: str | None = Field(default=None, max_length=300)
    active_from: date | None = None
    active_to: date | None = None


class OfferPresentation(SQLModel, table=True):
    """An offer presented in a meeting, the patient's response, and later whether she started it."""

    __table_args__ = (
        UniqueConstraint("meeting_id", "offer_id"),
        Index("ix_offerpresentation_stats", "meeting_id", "offer_id", "response", "uptake"),
    )

    id: int | None = Field(default=None, primary_key=True)
    meeting_id: int = Field(foreign_key="meeting.id", index=True)
    offer_id: int = Field(foreign_key="offer.id", index=True)
    response: OfferResponse = Field(sa_column=enum_column(OfferResponse, nullable=False))
    uptake: UptakeStatus | None = Field(default=None, sa_column=enum_column(UptakeStatus, nullable=True))
    started_on: date | None = None
    recorded_at: datetime = Field(default_factory=now_utc, sa_type=UTCDateTime)
    recorded_by_id: int | None = Field(default=None, foreign_key="app_user.id")
    uptake_recorded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class BusyFeedVersion(SQLModel, table=True):
    """Which copy of an advisor's busy feed BusyInterval holds: a new random value whenever those rows
    change (services/busy_feeds.py), so slot search can keep the parsed copy between requests."""

    __tablename__ = "busy_feed_version"

    user_id: int = Field(foreign_key="app_user.id", primary_key=True)
    version: str = Field(max_length=32)


class OfferMonthTotals(SQLModel, table=True):
    """Offers presented per UTC calendar month of the meeting's start, the meeting's municipality and
    the offer, counted as services/statistics.py counts them (`offer_figures`). Kept current at every
    flush that changes a presentation or its meeting (services/statistics_summary.py), so statistics
    over years add up months instead of millions of rows."""

    __tablename__ = "offer_month_totals"

    month: date = Field(primary_key=True)  # first day of the month, in UTC
    municipality_code: str = Field(primary_key=True, max_length=4)
    offer_id: int = Field(primary_key=True)  # no FK: the totals follow the rows, they never lead
    presented: int = Field(default=0)
    accepted: int = Field(default=0)
    declined: int = Field(default=0)
    considering: int = Field(default=0)
    referred: int = Field(default=0)
    eligible: int = Field(default=0)
    started: int = Field(default=0)
    not_started: int = Field(default=0)
    unknown: int = Field(default=0)
    pending: int = Field(default=0)


class MeetingMonthTotals(SQLModel, table=True):
    """Meetings per UTC calendar month of their start and municipality, counted as services/statistics.py
    counts them (`meeting_result`); kept current like OfferMonthTotals."""

    __tablename__ = "meeting_month_totals"

    month: date = Field(primary_key=True)  # first day of the month, in UTC
    municipality_code: str = Field(primary_key=True, max_length=4)
    booked: int = Field(default=0)
    held: int = Field(default=0)
    no_show: int = Field(default=0)
    cancelled: int = Field(default=0)
    unrecorded: int = Field(default=0)


class SeriesFrequency(str, enum.Enum):
    weekly = "weekly"
    biweekly = "biweekly"
    monthly = "monthly"  # on the same weekday of the month as the first meeting (e.g. 2nd Tuesday)


class HolidayPolicy(str, enum.Enum):
    skip = "skip"  # no meeting on a public holiday (EXDATE)
    flag = "flag"  # the meeting stays; pages point it out


class MeetingSeries(SQLModel, table=True):
    """A recurring cross-sector meeting between hospital and municipal staff (no patient)."""

    __tablename__ = "meeting_series"

    id: int | None = Field(default=None, primary_key=True)
    uid: str = Field(max_length=100, unique=True)
    title: str = Field(max_length=200)
    meeting_type: str = Field(default="cross_sector", max_length=30)
    organizer_id: int = Field(foreign_key="app_user.id", index=True)
    municipality_code: str = Field(foreign_key="municipality.code", index=True)
    ward_id: int | None = Field(default=None, foreign_key="ward.id", index=True)
    first_start_at: datetime = Field(sa_type=UTCDateTime)
    duration_minutes: int
    frequency: SeriesFrequency = Field(sa_column=enum_column(SeriesFrequency, nullable=False))
    until: date  # the last day a meeting may fall on (a count is turned into this date)
    holiday_policy: HolidayPolicy = Field(sa_column=enum_column(HolidayPolicy, nullable=False))
    cancelled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sequence: int = Field(default=0)
    created_at: datetime = Field(default_factory=now_utc, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=now_utc, sa_type=UTCDateTime)
    continued_from_id: int | None = Field(default=None, foreign_key="meeting_series.id")  # split on change

    video_provider: str = Field(max_length=20)
    video_join_url: str | None = Field(default=None, max_length=500)
    video_external_id: str | None = Field(default=None, max_length=100)
    video_guest_pin: str | None = Field(default=None, max_length=20)


class SeriesParticipant(SQLModel, table=True):
    __tablename__ = "series_participant"

    id: int | None = Field(default=None, primary_key=True)
    series_id: int = Field(foreign_key="meeting_series.id", index=True)
    side: str = Field(max_length=20)  # hospital | municipality
    name: str = Field(max_length=200)
    email: str = Field(max_length=254, index=True)
    status: AnswerStatus = Field(sa_column=enum_column(AnswerStatus, nullable=False))


class SeriesException(SQLModel, table=True):
    """One occurrence moved or cancelled; identified by its original start (RECURRENCE-ID)."""

    __tablename__ = "series_exception"
    __table_args__ = (UniqueConstraint("series_id", "recurrence_id"),)

    id: int | None = Field(default=None, primary_key=True)
    series_id: int = Field(foreign_key="meeting_series.id", index=True)
    recurrence_id: datetime = Field(sa_type=UTCDateTime)
    cancelled: bool = Field(default=False)
    start_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # a moved occurrence's new time
    end_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sequence: int = Field(default=0)
