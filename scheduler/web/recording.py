"""The advisor's recording pages: what happened in a meeting (outcome, offers presented, the patient's
responses, a note), and the follow-ups: did the patient start the offers she accepted."""
from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user

from ..errors import DomainError
from ..models import Meeting, MeetingOutcome, Offer, OfferResponse, ParticipantRole, Role, UptakeStatus, Ward
from ..services import offers as catalogue
from ..services import recording
from ..services.access import meeting_for
from ..services.booking import participants_of
from ..services.users import users_by_id
from .audit import listed, opened
from .context import booking_context, db, now, services
from .guards import only_for

bp = Blueprint("recording", __name__, url_prefix="/advisor")
NEXT_PAGES = ("followups", "record")


only_for(bp, Role.advisor, Role.admin)


def _advisor_only() -> None:
    """The lists are per municipality; an admin has none (she records from a meeting's own page)."""
    if current_user.role != Role.advisor:
        abort(403)


def _load(meeting_id: int) -> Meeting:
    meeting = meeting_for(db(), user=current_user, meeting_id=meeting_id)
    if not recording.may_record(current_user, meeting):
        abort(403)
    return opened(meeting)


def _wards(meetings: list[Meeting]) -> dict[int, Ward]:
    return {w.id: w for w in (db().get(Ward, i) for i in {m.ward_id for m in meetings}) if w}


def _patients(meetings: list[Meeting]) -> dict[int, str]:
    """The patient's name per meeting: the advisor needs it to know whom to ask (never the CPR number)."""
    names = {}
    for meeting in meetings:
        patient = next((p for p in participants_of(db(), meeting) if p.role == ParticipantRole.patient), None)
        names[meeting.id] = patient.name if patient else ""
    return names


@bp.get("/recording")
def index():  # type: ignore[no-untyped-def]
    _advisor_only()
    to_record = recording.meetings_to_record(db(), advisor=current_user, now=now())
    recorded = recording.recorded_meetings(db(), advisor=current_user, now=now())
    followups = recording.open_followups(db(), advisor=current_user, now=now(),
                                         followup_days=services().config.offers.followup_days)
    meetings = to_record + recorded
    listed(len(meetings), to_record=len(to_record))
    return render_template("recording/index.html", to_record=to_record, recorded=recorded,
                           followup_count=sum(len(f.items) for f in followups), wards=_wards(meetings),
                           patients=_patients(meetings),
                           advisors=users_by_id(db(), {m.advisor_id for m in meetings}))


# ---- one meeting


def _checklist(meeting: Meeting, presented: list[Offer]) -> list[tuple[str, list[Offer]]]:
    """The municipality's offers on the meeting's day, plus any recorded since retired, by category."""
    day = recording.meeting_day(booking_context(), meeting)
    offers = catalogue.active_offers(db(), municipality_code=meeting.municipality_code, on=day)
    codes = {o.code for o in offers}
    offers += [o for o in presented if o.code not in codes]
    groups: dict[str, list[Offer]] = {}
    for offer in sorted(offers, key=catalogue.sort_key):
        groups.setdefault(offer.category, []).append(offer)
    return list(groups.items())


def _recorded_form(meeting: Meeting, rows: list) -> dict[str, str]:  # type: ignore[type-arg]
    form = {"outcome": meeting.outcome.value if meeting.outcome else "", "note": meeting.advisor_note or ""}
    for presentation, offer in rows:
        form[f"presented.{offer.code}"] = "1"
        form[f"response.{offer.code}"] = presentation.response.value
    return form


def _chosen(form: dict[str, Any], groups: list[tuple[str, list[Offer]]]) -> tuple[list[tuple[str, OfferResponse]],
                                                                                  dict[str, str]]:
    """The offers ticked or given a response, in checklist order; a tick without a response is an error."""
    chosen, errors = [], {}
    for _category, offers in groups:
        for offer in offers:
            response = form.get(f"response.{offer.code}") or ""
            if response in {r.value for r in OfferResponse}:
                chosen.append((offer.code, OfferResponse(response)))
            elif form.get(f"presented.{offer.code}"):
                errors[f"response.{offer.code}"] = gettext("Vælg borgerens svar")
    return chosen, errors


def _render_record(meeting: Meeting, *, form: dict[str, Any], errors: dict[str, str], message: str | None,
                   status: int = 200):  # type: ignore[no-untyped-def]
    rows = recording.presentations_of(db(), meeting)
    return render_template(
        "recording/record.html", meeting=meeting, form=form, errors=errors, message=message,
        groups=_checklist(meeting, [offer for _p, offer in rows]), outcomes=list(MeetingOutcome),
        responses=list(OfferResponse), uptakes=list(UptakeStatus), ward=db().get(Ward, meeting.ward_id),
        patient=_patients([meeting])[meeting.id], started=meeting.start_at <= now(),
        followup_rows=[(p, o) for p, o in rows if p.response in recording.FOLLOWUP_RESPONSES],
        today=now().astimezone(services().rules.zone).date()), status


@bp.route("/meetings/<int:meeting_id>/record", methods=["GET", "POST"])
def record(meeting_id: int):  # type: ignore[no-untyped-def]
    meeting = _load(meeting_id)
    if request.method == "GET":
        return _render_record(meeting, form=_recorded_form(meeting, recording.presentations_of(db(), meeting)),
                              errors={}, message=None)
    form = dict(request.form)
    groups = _checklist(meeting, [offer for _p, offer in recording.presentations_of(db(), meeting)])
    chosen, errors = _chosen(form, groups)
    try:
        outcome = MeetingOutcome(form.get("outcome") or "")
    except ValueError:
        errors["outcome"] = gettext("Vælg hvordan mødet gik")
    if errors:
        return _render_record(meeting, form=form, errors=errors, message=None, status=422)
    try:
        recording.record_meeting(db(), ctx=booking_context(), meeting=meeting, outcome=outcome, offers=chosen,
                                 note=form.get("note"), actor=current_user)
        db().commit()
    except DomainError as exc:
        db().rollback()
        message, fields = exc.translated(gettext)
        codes = [code for code, _response in chosen]
        errors = {_form_field(name, codes): text for name, text in fields.items()}
        return _render_record(meeting, form=form, errors=errors, message=message, status=exc.status_code)
    flash(gettext("Registreringen er gemt"), "success")
    return redirect(url_for("recording.index") if current_user.role == Role.advisor
                    else url_for("recording.record", meeting_id=meeting.id))


def _form_field(name: str, codes: list[str]) -> str:
    """A service's field (offers.2.code) -> the form control it came from (response.<code>)."""
    parts = name.split(".")
    if len(parts) == 3 and parts[0] == "offers" and parts[1].isdigit() and int(parts[1]) < len(codes):
        return f"response.{codes[int(parts[1])]}"
    return name


# ---- follow-ups


def _render_followups(*, form: dict[str, Any], errors: dict[str, str], message: str | None,
                      status: int = 200):  # type: ignore[no-untyped-def]
    followups = recording.open_followups(db(), advisor=current_user, now=now(),
                                         followup_days=services().config.offers.followup_days)
    meetings = [f.meeting for f in followups]
    listed(len(meetings))
    return render_template("recording/followups.html", followups=followups, form=form, errors=errors,
                           message=message, uptakes=list(UptakeStatus), wards=_wards(meetings),
                           patients=_patients(meetings), advisors=users_by_id(db(), {m.advisor_id for m in meetings}),
                           today=now().astimezone(services().rules.zone).date()), status


@bp.get("/followups")
def followups():  # type: ignore[no-untyped-def]
    _advisor_only()
    return _render_followups(form={}, errors={}, message=None)


@bp.post("/meetings/<int:meeting_id>/offers/<code>/uptake")
def uptake(meeting_id: int, code: str):  # type: ignore[no-untyped-def]
    meeting = _load(meeting_id)
    key = request.form.get("key", "")
    back = request.form.get("next") if request.form.get("next") in NEXT_PAGES else "record"
    form = dict(request.form)
    errors: dict[str, str] = {}
    try:
        status = UptakeStatus(form.get(f"{key}.status") or "")
    except ValueError:
        errors[f"{key}.status"] = gettext("Vælg om borgeren er startet")
    started_on = None
    if form.get(f"{key}.started_on"):
        try:
            started_on = date.fromisoformat(form[f"{key}.started_on"])
        except ValueError:
            errors[f"{key}.started_on"] = gettext("Ugyldig dato; brug formatet 2026-12-01")
    message = None
    status_code = 422
    if not errors:
        try:
            recording.record_uptake(db(), ctx=booking_context(), meeting=meeting, code=code, status=status,
                                    started_on=started_on, actor=current_user)
            db().commit()
            flash(gettext("Opfølgningen er gemt"), "success")
            return redirect(url_for("recording.followups") if back == "followups"
                            else url_for("recording.record", meeting_id=meeting.id))
        except DomainError as exc:
            db().rollback()
            message, fields = exc.translated(gettext)
            errors = {f"{key}.{name}": text for name, text in fields.items()}
            status_code = exc.status_code
    if back == "followups" and current_user.role == Role.advisor:
        return _render_followups(form=form, errors=errors, message=message, status=status_code)
    return _render_record(meeting, form={**_recorded_form(meeting, recording.presentations_of(db(), meeting)),
                                         **form}, errors=errors, message=message, status=status_code)
