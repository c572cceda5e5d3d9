"""The ward secretary's pages: list, book with the slot picker, view, reschedule, cancel, print."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user, login_required
from sqlmodel import select

from ..errors import N_, Conflict, DomainError
from ..models import Meeting, MeetingStatus, VideoStatus, Ward
from ..schemas import MeetingCancel, MeetingCreate, MeetingReschedule, SlotQuery, parse_input
from ..services import booking, rebooking
from ..services.access import may_book, meeting_for, visible_meetings
from ..services.meeting_types import TYPES
from ..services.users import advisors_of, municipalities, users_by_id, wards_of
from .audit import listed, opened
from .context import booking_context, db, now, services

bp = Blueprint("meetings", __name__, url_prefix="/meetings")

MAX_RELATIVES_IN_FORM = 2
MAX_STAFF_IN_FORM = 3
SLOTS_SHOWN = 80


# Where a service's field error is shown in the forms.
FORM_FIELDS = {"duration": "duration_minutes", "discharge_at": "discharge_date", "start": "slot"}


def _errors(exc: DomainError) -> tuple[str, dict[str, str]]:
    message, fields = exc.translated(gettext)
    return message, {FORM_FIELDS.get(name, name): text for name, text in fields.items()}


def _status(errors: dict[str, str], conflict: bool) -> int:
    return (409 if conflict else 422) if errors else 200


def _blank(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def _rows(form: Any, prefix: str, count: int, keys: tuple[str, ...]) -> list[dict[str, str | None]]:
    """Repeated form rows (staff.0.name ...), skipping rows left empty."""
    rows = []
    for i in range(count):
        row = {key: _blank(form.get(f"{prefix}.{i}.{key}")) for key in keys}
        if any(row.values()):
            rows.append({k: v for k, v in row.items() if v is not None})
    return rows


def _slot_query_data(form: Any) -> dict[str, Any]:
    """The slot search of the form; without a length, the chosen kind of meeting's default length."""
    discharge = None
    if _blank(form.get("discharge_date")):
        discharge = f"{form['discharge_date']}T{_blank(form.get('discharge_time')) or '12:00'}"
    return {k: v for k, v in {
        "municipality": _blank(form.get("municipality")),
        "from": _blank(form.get("from")),
        "to": _blank(form.get("to")),
        "duration": _blank(form.get("duration_minutes")) or _type_minutes(form.get("meeting_type")),
        "advisor_id": _blank(form.get("advisor_id")),
        "discharge_at": discharge,
    }.items() if v is not None}


def _type_minutes(key: str | None) -> str | None:
    return str(services().rules.minutes_for(key)) if key in TYPES and key != "discharge" else None


def _meeting_data(form: Any) -> dict[str, Any]:
    query = _slot_query_data(form)
    query.setdefault("municipality", "")
    start, _, advisor_id = (form.get("slot") or "").partition("|")
    patient = {k: v for k, v in {key: _blank(form.get(f"patient.{key}")) for key in
                                  ("name", "cpr", "email", "phone")}.items() if v is not None}
    data: dict[str, Any] = {
        "ward": _blank(form.get("ward")) or "",
        "municipality": query["municipality"],
        "patient": patient,
        "relatives": _rows(form, "relatives", MAX_RELATIVES_IN_FORM, ("name", "email", "phone")),
        "staff": _rows(form, "staff", MAX_STAFF_IN_FORM, ("name", "email")),
        "language": form.get("language") or None,  # the deployment's language (booking) when not chosen
        "meeting_type": form.get("meeting_type") or "discharge",
    }
    if start:
        data["start"] = start
    if advisor_id or query.get("advisor_id"):
        data["advisor_id"] = advisor_id or query.get("advisor_id")
    for key in ("duration", "discharge_at"):
        if key in query:
            data["duration_minutes" if key == "duration" else key] = query[key]
    return data


def _party_errors(form: Any) -> dict[str, str]:
    """Errors in the patient, relatives and staff fields, so they can be fixed while picking a time."""
    try:
        parse_input(MeetingCreate, {**_meeting_data(form), "start": "2000-01-01T00:00:00+00:00"})
    except DomainError as exc:
        return {name: text for name, text in _errors(exc)[1].items()
                if name.split(".")[0] in ("patient", "relatives", "staff")}
    return {}


def _search(query_data: dict[str, Any], *, exclude_meeting_id: int | None = None):  # type: ignore[no-untyped-def]
    query = parse_input(SlotQuery, query_data)
    slots = booking.search_slots(db(), ctx=booking_context(), query=query, exclude_meeting_id=exclude_meeting_id,
                                 limit=SLOTS_SHOWN)
    advisors = users_by_id(db(), {s.advisor_id for s in slots})
    return [(slot, advisors[slot.advisor_id]) for slot in slots]


def _ward_choices() -> list[Ward]:
    if current_user.role.value == "admin":
        return list(db().exec(select(Ward).order_by(Ward.name)))
    return wards_of(db(), current_user)


@bp.get("/")
@login_required
def index():  # type: ignore[no-untyped-def]
    show = request.args.get("show", "upcoming")
    query = visible_meetings(current_user)
    if show == "upcoming":
        query = query.where(Meeting.end_at >= now(), Meeting.status != MeetingStatus.cancelled)
    elif show == "waiting":
        query = query.where(Meeting.video_status == VideoStatus.pending, Meeting.status != MeetingStatus.cancelled)
    meetings = db().exec(query.order_by(Meeting.start_at).limit(500)).all()
    listed(len(meetings), show=show if show in ("upcoming", "waiting") else "all")
    wards = {w.id: w for w in db().exec(select(Ward))}
    return render_template("meetings/index.html", meetings=meetings, wards=wards, show=show,
                           advisors=users_by_id(db(), {m.advisor_id for m in meetings}))


def _new_form_defaults() -> dict[str, str]:
    today = now().astimezone(services().rules.zone).date()
    wards = _ward_choices()
    return {"from": today.isoformat(),
            "to": (today + timedelta(days=services().config.booking.search_days)).isoformat(),
            "duration_minutes": str(services().rules.meeting_minutes),
            "ward": wards[0].code if wards else "", "language": services().config.app.language}


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new():  # type: ignore[no-untyped-def]
    if not may_book(current_user):
        abort(403)
    form: dict[str, Any] = dict(request.form) if request.method == "POST" else _new_form_defaults()
    errors: dict[str, str] = {}
    early: dict[str, str] = {}
    message = None
    slots = None
    conflict = False
    if request.method == "POST":
        try:
            slots = _search(_slot_query_data(form))
        except DomainError as exc:
            message, errors = _errors(exc)
        if request.form.get("action") != "book":
            early = _party_errors(form)  # shown early, without blocking the search
        if request.form.get("action") == "book" and not errors:
            if not form.get("slot"):
                errors["slot"] = gettext("Vælg en af de ledige tider")
            else:
                try:
                    data = parse_input(MeetingCreate, _meeting_data(form))
                    meeting = booking.book_meeting(db(), ctx=booking_context(), data=data, booked_by=current_user)
                    db().commit()
                    flash(gettext("Mødet er booket"), "success")
                    return redirect(url_for("meetings.show", meeting_id=meeting.id))
                except DomainError as exc:
                    db().rollback()
                    message, errors = _errors(exc)
                    conflict = isinstance(exc, Conflict)
                    slots = _search(_slot_query_data(form)) if "municipality" not in errors else None
    advisors = advisors_of(db(), form.get("municipality", "")) if form.get("municipality") else []
    status = _status(errors, conflict)
    return render_template("meetings/new.html", form=form, errors={**early, **errors}, message=message, slots=slots,
                           wards=_ward_choices(), municipalities=municipalities(db()), advisors=advisors,
                           meeting_types=[TYPES[key] for key in services().rules.bookable_types()],
                           relative_rows=range(MAX_RELATIVES_IN_FORM), staff_rows=range(MAX_STAFF_IN_FORM)), status


def _load(meeting_id: int) -> Meeting:
    return opened(meeting_for(db(), user=current_user, meeting_id=meeting_id))


def _load_to_change(meeting_id: int) -> Meeting:
    """A meeting she sees (else 404) and may change (else 403): secretaries and admins, as in the API.
    Only then is it opened (an audited view): a refused form is no view."""
    meeting = meeting_for(db(), user=current_user, meeting_id=meeting_id)
    if not may_book(current_user):
        abort(403)
    return opened(meeting)


@bp.get("/<int:meeting_id>")
@login_required
def show(meeting_id: int):  # type: ignore[no-untyped-def]
    meeting = _load(meeting_id)
    participants = booking.participants_of(db(), meeting)
    history = booking.history_of(db(), meeting)
    users = users_by_id(db(), {e.actor_id for e in history if e.actor_id} | {meeting.booked_by_id})
    rebook_slots = rebooking.rebooking_slots(db(), ctx=booking_context(), meeting=meeting,
                                             days=services().config.booking.search_days)
    return render_template("meetings/show.html", meeting=meeting, participants=participants, history=history,
                           users=users, ward=db().get(Ward, meeting.ward_id),
                           can_change=meeting.status in booking.ACTIVE_STATUSES and may_book(current_user),
                           show_cpr=current_user.id in (meeting.booked_by_id, meeting.advisor_id),
                           declined=rebooking.declined_advisor(db(), meeting=meeting) if meeting.needs_rebooking
                           else None,
                           rebook_slots=rebook_slots,
                           rebook_advisors=users_by_id(db(), {s.advisor_id for s in rebook_slots}))


@bp.post("/<int:meeting_id>/rebook")
@login_required
def rebook(meeting_id: int):  # type: ignore[no-untyped-def]
    """One click on an offered slot after the advisor declined: reschedule to that time and advisor."""
    meeting = _load_to_change(meeting_id)
    start, _, advisor_id = (request.form.get("slot") or "").partition("|")
    try:
        data = parse_input(MeetingReschedule, {"start": start, "advisor_id": advisor_id or None})
        booking.reschedule_meeting(db(), ctx=booking_context(), meeting=meeting, data=data, actor=current_user)
        db().commit()
        flash(gettext("Mødet er booket om, og alle deltagere får en opdateret invitation"), "success")
    except DomainError as exc:
        db().rollback()
        flash(exc.translated(gettext)[0] + " " + gettext("Vælg en anden tid."), "error")
    return redirect(url_for("meetings.show", meeting_id=meeting_id))


@bp.get("/<int:meeting_id>/invite.ics")
@login_required
def invite(meeting_id: int):  # type: ignore[no-untyped-def]
    meeting = _load(meeting_id)
    if meeting.personal_data_removed_at is not None:
        abort(410)  # the invite went with the personal data (retention)
    data = services().calendars.read(meeting.uid)
    if data is None:
        raise Conflict(N_("Mødet venter stadig på sit videolink; invitationen sendes, når linket er klar"),
                           field="video")
    return Response(data, mimetype="text/calendar",
                    headers={"Content-Disposition": 'attachment; filename="invitation.ics"'})


@bp.get("/<int:meeting_id>/print")
@login_required
def print_invitation(meeting_id: int):  # type: ignore[no-untyped-def]
    meeting = _load(meeting_id)
    if not meeting.video_join_url:
        raise Conflict(N_("Mødet venter stadig på sit videolink; invitationen sendes, når linket er klar"),
                           field="video")
    ward = db().get(Ward, meeting.ward_id)
    return render_template("meetings/print.html", meeting=meeting, ward=ward,
                           participants=booking.participants_of(db(), meeting))


@bp.post("/<int:meeting_id>/video-link")
@login_required
def retry_video(meeting_id: int):  # type: ignore[no-untyped-def]
    meeting = _load_to_change(meeting_id)
    if booking.retry_video_link(db(), ctx=booking_context(), meeting=meeting, actor=current_user):
        db().commit()
        flash(gettext("Videolinket er oprettet"), "success")
    else:
        db().commit()
        flash(gettext("Videotjenesten svarer stadig ikke. Vi prøver igen automatisk."), "error")
    return redirect(url_for("meetings.show", meeting_id=meeting.id))


@bp.route("/<int:meeting_id>/reschedule", methods=["GET", "POST"])
@login_required
def reschedule(meeting_id: int):  # type: ignore[no-untyped-def]
    meeting = _load_to_change(meeting_id)
    zone = services().rules.zone
    if request.method == "POST":
        form = dict(request.form)
    else:
        day = max(meeting.start_at, now()).astimezone(zone).date()
        form = {"from": day.isoformat(), "to": (day + timedelta(days=7)).isoformat(),
                "duration_minutes": str(int((meeting.end_at - meeting.start_at).total_seconds() // 60))}
    form["municipality"] = meeting.municipality_code
    if meeting.discharge_at:
        local_discharge = meeting.discharge_at.astimezone(zone)
        form["discharge_date"], form["discharge_time"] = local_discharge.date().isoformat(), \
            local_discharge.strftime("%H:%M")
    errors: dict[str, str] = {}
    message = None
    slots = None
    conflict = False
    try:
        slots = [(slot, advisor) for slot, advisor in _search(_slot_query_data(form), exclude_meeting_id=meeting.id)
                 if (slot.start_at, slot.advisor_id) != (meeting.start_at, meeting.advisor_id)]
    except DomainError as exc:
        message, errors = _errors(exc)
    if request.method == "POST" and request.form.get("action") == "reschedule" and not errors:
        start, _, advisor_id = (form.get("slot") or "").partition("|")
        if not start:
            errors["slot"] = gettext("Vælg en af de ledige tider")
        else:
            try:
                data = parse_input(MeetingReschedule, {k: v for k, v in {
                    "start": start, "advisor_id": advisor_id or None,
                    "duration_minutes": _blank(form.get("duration_minutes")),
                    "reason": _blank(form.get("reason"))}.items() if v is not None})
                booking.reschedule_meeting(db(), ctx=booking_context(), meeting=meeting, data=data,
                                           actor=current_user)
                db().commit()
                flash(gettext("Mødet er flyttet, og alle deltagere får en opdateret invitation"), "success")
                return redirect(url_for("meetings.show", meeting_id=meeting.id))
            except DomainError as exc:
                db().rollback()
                message, errors = _errors(exc)
                conflict = isinstance(exc, Conflict)
    advisors = advisors_of(db(), meeting.municipality_code)
    return render_template("meetings/reschedule.html", meeting=meeting, form=form, errors=errors, message=message,
                           slots=slots, advisors=advisors), _status(errors, conflict)


@bp.route("/<int:meeting_id>/cancel", methods=["GET", "POST"])
@login_required
def cancel(meeting_id: int):  # type: ignore[no-untyped-def]
    meeting = _load_to_change(meeting_id)
    form = dict(request.form)
    errors: dict[str, str] = {}
    message = None
    if request.method == "POST":
        try:
            data = parse_input(MeetingCancel, {"reason": form.get("reason", "")})
            booking.cancel_meeting(db(), ctx=booking_context(), meeting=meeting, data=data, actor=current_user)
            db().commit()
            flash(gettext("Mødet er aflyst, og deltagerne får en aflysning"), "success")
            return redirect(url_for("meetings.show", meeting_id=meeting.id))
        except DomainError as exc:
            db().rollback()
            message, errors = _errors(exc)
    return render_template("meetings/cancel.html", meeting=meeting, form=form, errors=errors,
                           message=message), _status(errors, conflict=False)
