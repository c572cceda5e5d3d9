"""Jinja filters: local times in the reader's language, masked CPR, QR codes."""
from __future__ import annotations

from datetime import datetime

import segno
from flask import Flask
from flask_babel import get_locale, gettext
from markupsafe import Markup

from ..errors import N_
from ..models import AnswerStatus, MeetingOutcome, MeetingStatus, OfferResponse, ParticipantRole, Role, UptakeStatus
from ..services.cpr import mask_cpr
from ..services.offers import CATEGORIES
from ..services.formatting import format_local
from ..services.meeting_types import meeting_type
from .context import services


def page_language() -> str:
    """The language this page is shown in (the user's, else the deployment's)."""
    return str(get_locale() or "da")


def local(value: datetime | None, fmt: str = "full") -> str:
    """Aware UTC -> the configured zone, formatted for the reader's language."""
    return format_local(value, zone=services().rules.zone, language=page_language(), fmt=fmt)


def qr_svg(data: str) -> Markup:
    """An inline SVG QR code (no external service, no script)."""
    svg = segno.make(data, error="m").svg_inline(scale=4, border=2, title="QR")
    return Markup(svg)


def register(app: Flask) -> None:
    app.jinja_env.filters["local"] = local
    app.jinja_env.filters["mask_cpr"] = mask_cpr
    app.jinja_env.filters["qr_svg"] = qr_svg
    app.jinja_env.globals["app_config"] = lambda: services().config
    app.jinja_env.globals["get_locale"] = get_locale
    app.jinja_env.globals["meeting_type"] = meeting_type
    app.jinja_env.globals["national_id_label"] = national_id_label
    register_labels(app)


# The patient's national identity number: the Danish CPR number, or the Norwegian fødselsnummer.
NATIONAL_ID_LABELS = {"DK": N_("CPR-nummer"), "NO": N_("Fødselsnummer")}


def national_id_label() -> str:
    return gettext(NATIONAL_ID_LABELS.get(services().config.app.country, NATIONAL_ID_LABELS["DK"]))


STATUS_LABELS = {
    MeetingStatus.booked: N_("Booket"), MeetingStatus.confirmed: N_("Bekræftet"), MeetingStatus.held: N_("Afholdt"),
    MeetingStatus.no_show: N_("Udeblevet"), MeetingStatus.cancelled: N_("Aflyst"),
}
ANSWER_LABELS = {
    AnswerStatus.needs_action: N_("Afventer svar"), AnswerStatus.accepted: N_("Accepteret"),
    AnswerStatus.declined: N_("Afvist"), AnswerStatus.tentative: N_("Måske"),
}
ROLE_LABELS = {
    ParticipantRole.patient: N_("Patient"), ParticipantRole.relative: N_("Pårørende"),
    ParticipantRole.staff: N_("Hospitalet"), ParticipantRole.advisor: N_("Sundhedsrådgiver"),
}
EVENT_LABELS = {
    "booked": N_("Booket"), "rescheduled": N_("Flyttet"), "cancelled": N_("Aflyst"),
    "video_link_created": N_("Videolink oprettet"), "answered": N_("Svar på invitationen"),
    "outcome_recorded": N_("Udfald registreret"), "outcome_corrected": N_("Udfald rettet"),
    "offers_recorded": N_("Tilbud registreret"), "offers_corrected": N_("Tilbud rettet"),
    "note_changed": N_("Note ændret"), "uptake_recorded": N_("Opfølgning registreret"),
    "uptake_corrected": N_("Opfølgning rettet"),
}
OUTCOME_LABELS = {
    MeetingOutcome.held: N_("Holdt"), MeetingOutcome.no_show: N_("Borgeren udeblev"),
    MeetingOutcome.cancelled_late: N_("Aflyst med kort varsel"),
}
RESPONSE_LABELS = {
    OfferResponse.accepted: N_("Takker ja"), OfferResponse.declined: N_("Takker nej"),
    OfferResponse.considering: N_("Overvejer"), OfferResponse.referred: N_("Henvist"),
}
USER_ROLE_LABELS = {Role.secretary: N_("Sekretær"), Role.advisor: N_("Sundhedsrådgiver"),
                    Role.coordinator: N_("Koordinator"), Role.admin: N_("Administrator")}
UPTAKE_LABELS = {
    UptakeStatus.started: N_("Startet"), UptakeStatus.not_started: N_("Ikke startet"),
    UptakeStatus.unknown: N_("Ved ikke"),
}


def register_labels(app: Flask) -> None:
    app.jinja_env.globals.update(
        status_label=lambda s: gettext(STATUS_LABELS[s]),
        answer_label=lambda s: gettext(ANSWER_LABELS[s]),
        role_label=lambda r: gettext(ROLE_LABELS[r]),
        user_role_label=lambda r: gettext(USER_ROLE_LABELS[r]),
        event_label=lambda a: gettext(EVENT_LABELS.get(a, a)),
        outcome_label=lambda o: gettext(OUTCOME_LABELS[o]),
        response_label=lambda r: gettext(RESPONSE_LABELS[r]),
        uptake_label=lambda u: gettext(UPTAKE_LABELS[u]),
        category_label=lambda c: gettext(CATEGORIES[c]) if c in CATEGORIES else c,
    )
