"""Who gets which e-mail: invites, updates and cancellations to every party with an address,
and notices to the booking secretary. Messages go to the outbox in the caller's transaction."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlmodel import Session

from ..errors import N_
from ..models import Meeting, Participant, ParticipantRole, User, Ward
from .context import BookingContext
from .formatting import format_local
from .invites import build_invite, invite_bytes
from .links import AnswerLinks
from .mail import build_message
from .mail_render import MailRenderer
from .meeting_types import DISCHARGE, meeting_type
from .outbox import enqueue

ANSWERING_ROLES = (ParticipantRole.staff, ParticipantRole.advisor)
SUBJECTS = {
    "invite": N_("Invitation: udskrivningssamtale %(when)s"),
    "update": N_("Ændret: udskrivningssamtale %(when)s"),
    "cancel": N_("Aflyst: udskrivningssamtale %(when)s"),
    "reminder": N_("Påmindelse: udskrivningssamtale %(when)s"),
    "escalation": N_("Ubesvaret invitation: udskrivningssamtale %(when)s"),
    "declined": N_("Afvist: udskrivningssamtale %(when)s skal bookes om"),
    "followup": N_("Opfølgning: udskrivningssamtale %(when)s"),
}

# Other kinds of meeting (services/meeting_types.py) name themselves in the subject.
TYPED_SUBJECTS = {
    "invite": N_("Invitation: %(title)s %(when)s"),
    "update": N_("Ændret: %(title)s %(when)s"),
    "cancel": N_("Aflyst: %(title)s %(when)s"),
    "reminder": N_("Påmindelse: %(title)s %(when)s"),
    "escalation": N_("Ubesvaret invitation: %(title)s %(when)s"),
    "declined": N_("Afvist: %(title)s %(when)s skal bookes om"),
    "followup": N_("Opfølgning: %(title)s %(when)s"),
}


@dataclass(frozen=True)
class Mailer:
    renderer: MailRenderer
    links: AnswerLinks
    default_language: str

    def translator(self, language: str) -> Callable[[str], str]:
        """gettext in `language`, for builders that take a `translate` function (invites, calendars)."""
        return lambda message: self.renderer.gettext(language, message)

    def language_of(self, session: Session, meeting: Meeting, participant: Participant) -> str:
        if participant.role in (ParticipantRole.patient, ParticipantRole.relative):
            return meeting.patient_language
        user = session.get(User, participant.user_id) if participant.user_id else None
        return user.language if user else self.default_language


def _message(ctx: BookingContext, *, kind: str, template: str, language: str, name: str | None, email: str,
             meeting: Meeting, calendar: bytes | None = None, method: str | None = None,
             attach: bool = False, **context: object):  # type: ignore[no-untyped-def]
    mailer: Mailer = ctx.mailer
    when = format_local(meeting.start_at, zone=ctx.rules.zone, language=language, fmt="short")
    title = mailer.renderer.gettext(language, meeting_type(meeting.meeting_type).title)
    if meeting.meeting_type == DISCHARGE:
        subject = mailer.renderer.gettext(language, SUBJECTS[kind], when=when)
    else:
        subject = mailer.renderer.gettext(language, TYPED_SUBJECTS[kind], when=when, title=title)
    text, html = mailer.renderer.render(template, language=language, meeting=meeting, kind=kind, name=name,
                                        organizer_name=ctx.organizer_name, kind_title=title,
                                        discharge=meeting.meeting_type == DISCHARGE, **context)
    return build_message(sender_name=ctx.organizer_name, sender_email=ctx.organizer_email, recipient_name=name,
                         recipient_email=email, subject=subject, text=text, html=html, now=ctx.now,
                         calendar=calendar, method=method, attach_calendar=attach)


def queue_invites(session: Session, *, ctx: BookingContext, meeting: Meeting, participants: list[Participant],
                  removed: list[Participant] = (), first: bool = False,
                  calendars: dict[str, bytes] | None = None) -> int:
    """One e-mail per party with an address: REQUEST (new or updated) or CANCEL; removed parties a CANCEL.
    `calendars`: the invite already built in some languages (language -> bytes), used as it is."""
    if ctx.mailer is None:
        return 0
    mailer: Mailer = ctx.mailer
    cancelled = meeting.is_cancelled
    kind = "cancel" if cancelled else ("invite" if first else "update")
    calendars = dict(calendars or {})
    count = 0
    for participant in participants:
        if not participant.email:
            continue
        language = mailer.language_of(session, meeting, participant)
        if language not in calendars:
            calendars[language] = invite_bytes(build_invite(
                meeting=meeting, participants=participants, organizer_name=ctx.organizer_name,
                organizer_email=ctx.organizer_email, zone=ctx.rules.zone, dtstamp=ctx.now,
                translate=mailer.translator(language)))
        is_citizen = participant.role in (ParticipantRole.patient, ParticipantRole.relative)
        answer_url = mailer.links.url_for(participant) if participant.role in ANSWERING_ROLES and not cancelled \
            else None
        message = _message(ctx, kind=kind, template="citizen_invite" if is_citizen else "invite",
                           language=language, name=participant.name, email=participant.email, meeting=meeting,
                           calendar=calendars[language], method="CANCEL" if cancelled else "REQUEST",
                           attach=is_citizen, answer_url=answer_url, role=participant.role.value, removed=False)
        enqueue(session, kind=kind, message=message, now=ctx.now, meeting_id=meeting.id,
                participant_id=participant.id)
        count += 1
    for participant in removed:
        if not participant.email:
            continue
        language = mailer.language_of(session, meeting, participant)
        calendar = invite_bytes(build_invite(
            meeting=meeting, participants=[participant], organizer_name=ctx.organizer_name,
            organizer_email=ctx.organizer_email, zone=ctx.rules.zone, dtstamp=ctx.now, cancel=True,
            translate=mailer.translator(language)))
        message = _message(ctx, kind="cancel", template="invite", language=language, name=participant.name,
                           email=participant.email, meeting=meeting, calendar=calendar, method="CANCEL",
                           answer_url=None, role=participant.role.value, removed=True)
        enqueue(session, kind="cancel", message=message, now=ctx.now, meeting_id=meeting.id,
                participant_id=participant.id)
        count += 1
    return count


def queue_notice(session: Session, *, ctx: BookingContext, kind: str, meeting: Meeting, to: User | Participant,
                 language: str | None = None, **context: object) -> bool:
    """A plain notice (reminder, escalation, declined) from templates/email/<kind>.txt/.html."""
    if ctx.mailer is None or not to.email:
        return False
    language = language or getattr(to, "language", None) or ctx.mailer.default_language
    ward = session.get(Ward, meeting.ward_id)
    message = _message(ctx, kind=kind, template=kind, language=language, name=to.name, email=to.email,
                       meeting=meeting, ward=ward, meeting_url=f"{ctx.mailer.links.base_url}/meetings/{meeting.id}",
                       **context)
    enqueue(session, kind=kind, message=message, now=ctx.now, meeting_id=meeting.id,
            participant_id=to.id if isinstance(to, Participant) else None)
    return True
