"""Recurring cross-sector meetings: list, create, change, move or cancel one meeting, cancel the series."""
from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user, login_required
from sqlmodel import col, select

from ..errors import N_, DomainError, InvalidInput
from ..models import HolidayPolicy, MeetingSeries, Municipality, SeriesFrequency
from ..services import series as series_service
from ..services.users import wards_of
from ..services.timeutil import local_datetime
from .context import booking_context, db, services
from .filters import page_language

bp = Blueprint("series", __name__, url_prefix="/series")

_RECURRENCE = re.compile(r"\d{8}T\d{6}Z")
_LINE = re.compile(r"^\s*(?P<name>[^<>,;]+?)\s*(?:<(?P<a>[^<>\s]+@[^<>\s]+)>|[,;]\s*(?P<b>\S+@\S+))\s*$")
SIDE_FIELDS = {"hospital": "participants_hospital", "municipality": "participants_municipality"}


def _errors(exc: DomainError) -> tuple[str, dict[str, str]]:
    return exc.translated(gettext)


def _date(form: Any, name: str, *, required: bool = True) -> date | None:
    text = (form.get(name) or "").strip()
    if not text:
        if required:
            raise InvalidInput(N_("Udfyld feltet"), field=name)
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(N_("Skriv en dato som ÅÅÅÅ-MM-DD"), field=name) from None


def _int(form: Any, name: str, *, required: bool = True) -> int | None:
    text = (form.get(name) or "").strip()
    if not text:
        if required:
            raise InvalidInput(N_("Udfyld feltet"), field=name)
        return None
    if not text.isdigit() or len(text) > 6:
        raise InvalidInput(N_("Skriv et helt tal"), field=name)
    return int(text)


def _time(form: Any, name: str) -> time:
    try:
        return time.fromisoformat((form.get(name) or "").strip())
    except ValueError:
        raise InvalidInput(N_("Skriv et klokkeslæt som TT:MM"), field=name) from None


def _participants(form: Any) -> list[tuple[str, str, str]]:
    people: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    for side, name in SIDE_FIELDS.items():
        text = form.get(name) or ""
        if len(text) > 10_000:
            raise InvalidInput(N_("For mange deltagere"), field=name)
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            match = _LINE.match(line)
            if not match or len(match["name"]) > 200:
                raise InvalidInput(N_("Linje %(line)d: skriv navn og e-mail, fx \"Anne Hansen <anne@kommune.dk>\""),
                                   field=name, line=number)
            address = (match["a"] or match["b"]).lower()
            if len(address) > 254 or not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", address):
                raise InvalidInput(N_("Linje %(line)d: e-mailadressen er ikke gyldig"), field=name, line=number)
            if address in seen:
                raise InvalidInput(N_("Linje %(line)d: %(email)s står der allerede"), field=name, line=number,
                                   email=address)
            seen.add(address)
            people.append((side, match["name"], address))
    return people


def _input(form: Any) -> series_service.SeriesInput:
    """The form as a SeriesInput; the first bad field raises InvalidInput naming it."""
    frequency = form.get("frequency", "")
    if frequency not in {f.value for f in SeriesFrequency}:
        raise InvalidInput(N_("Vælg hvor ofte"), field="frequency")
    policy = form.get("holiday_policy", "")
    if policy not in {p.value for p in HolidayPolicy}:
        raise InvalidInput(N_("Vælg hvad der sker på helligdage"), field="holiday_policy")
    ends = form.get("ends", "until")
    ward = _int(form, "ward_id", required=False)
    return series_service.SeriesInput(
        title=(form.get("title") or "").strip(), municipality_code=(form.get("municipality") or "").strip(),
        first_date=_date(form, "first_date"), start_time=_time(form, "start_time"),
        duration_minutes=_int(form, "duration_minutes"), frequency=SeriesFrequency(frequency),
        holiday_policy=HolidayPolicy(policy),
        until=_date(form, "until") if ends == "until" else None,
        count=_int(form, "count") if ends == "count" else None,
        ward_id=ward, participants=_participants(form))


def _form_of(series: MeetingSeries) -> dict[str, str]:
    zone = booking_context().rules.zone
    local = series.first_start_at.astimezone(zone)
    people = series_service.participants_of(db(), series)
    return {"title": series.title, "municipality": series.municipality_code,
            "first_date": local.date().isoformat(), "start_time": local.strftime("%H:%M"),
            "duration_minutes": str(series.duration_minutes), "frequency": series.frequency.value,
            "holiday_policy": series.holiday_policy.value, "ends": "until", "until": series.until.isoformat(),
            "ward_id": str(series.ward_id or ""),
            **{field: "\n".join(f"{p.name} <{p.email}>" for p in people if p.side == side)
               for side, field in SIDE_FIELDS.items()}}


def _choices() -> dict[str, Any]:
    return {"municipalities": list(db().exec(select(Municipality).order_by(Municipality.name))),
            "wards": wards_of(db(), current_user) if current_user.role.value == "secretary" else [],
            "frequencies": series_service.FREQUENCY_LABELS, "policies": series_service.POLICY_LABELS}


def _may_change() -> None:
    if not series_service.can_create_series(current_user):
        abort(403)


def _recurrence(text: str) -> datetime:
    if not _RECURRENCE.fullmatch(text):
        abort(404)
    try:
        return datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        abort(404)


@bp.get("/")
@login_required
def index():  # type: ignore[no-untyped-def]
    found = list(db().exec(series_service.visible_series(current_user)
                           .order_by(col(MeetingSeries.first_start_at).desc()).limit(200)))
    ctx = booking_context()
    upcoming = {s.id: next((o for o in series_service.occurrences(db(), s, ctx=ctx)
                            if o.start_at > ctx.now and not o.cancelled), None) for s in found}
    return render_template("series/index.html", series_list=found, upcoming=upcoming,
                           can_create=series_service.can_create_series(current_user))


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new():  # type: ignore[no-untyped-def]
    _may_change()
    form: dict[str, Any] = dict(request.form) if request.method == "POST" else {
        "duration_minutes": str(services().rules.minutes_for("cross_sector")), "frequency": "weekly",
        "holiday_policy": "skip", "ends": "count", "count": "10", "start_time": "10:00",
        "municipality": current_user.municipality_code or ""}
    message, errors = None, {}
    if request.method == "POST":
        try:
            created = series_service.create_series(db(), ctx=booking_context(), user=current_user, data=_input(form))
            db().commit()
            flash(gettext("Mødeserien er oprettet, og invitationerne er sendt"))
            return redirect(url_for("series.show", series_id=created.id))
        except DomainError as exc:
            db().rollback()
            message, errors = _errors(exc)
    return render_template("series/form.html", form=form, errors=errors, message=message, series=None,
                           **_choices()), 422 if errors or message else 200


@bp.get("/<int:series_id>")
@login_required
def show(series_id: int):  # type: ignore[no-untyped-def]
    series = series_service.series_for(db(), user=current_user, series_id=series_id)
    ctx = booking_context()
    return render_template("series/show.html", series=series, now=ctx.now,
                           occurrences=series_service.occurrences(db(), series, ctx=ctx),
                           participants=series_service.participants_of(db(), series),
                           rule=series_service.describe_rule(series, language=page_language(), mailer=ctx.mailer,
                                                             ctx=ctx),
                           municipality=db().get(Municipality, series.municipality_code),
                           can_change=series_service.can_create_series(current_user)
                           and series.cancelled_at is None)


@bp.route("/<int:series_id>/edit", methods=["GET", "POST"])
@login_required
def edit(series_id: int):  # type: ignore[no-untyped-def]
    _may_change()
    series = series_service.series_for(db(), user=current_user, series_id=series_id)
    form: dict[str, Any] = dict(request.form) if request.method == "POST" else _form_of(series)
    message, errors = None, {}
    if request.method == "POST":
        try:
            changed = series_service.change_series(db(), ctx=booking_context(), user=current_user, series=series,
                                                   data=_input(form))
            db().commit()
            flash(gettext("Mødeserien er ændret, og deltagerne har fået besked"))
            return redirect(url_for("series.show", series_id=changed.id))
        except DomainError as exc:
            db().rollback()
            message, errors = _errors(exc)
    return render_template("series/form.html", form=form, errors=errors, message=message, series=series,
                           **_choices()), 422 if errors or message else 200


@bp.post("/<int:series_id>/cancel")
@login_required
def cancel(series_id: int):  # type: ignore[no-untyped-def]
    _may_change()
    series = series_service.series_for(db(), user=current_user, series_id=series_id)
    series_service.cancel_series(db(), ctx=booking_context(), series=series)
    db().commit()
    flash(gettext("Mødeserien er aflyst, og deltagerne har fået besked"))
    return redirect(url_for("series.show", series_id=series.id))


@bp.post("/<int:series_id>/occurrences/<recurrence>/cancel")
@login_required
def cancel_occurrence(series_id: int, recurrence: str):  # type: ignore[no-untyped-def]
    _may_change()
    series = series_service.series_for(db(), user=current_user, series_id=series_id)
    series_service.cancel_occurrence(db(), ctx=booking_context(), series=series, recurrence_id=_recurrence(recurrence))
    db().commit()
    flash(gettext("Mødet er aflyst, og deltagerne har fået besked"))
    return redirect(url_for("series.show", series_id=series.id))


@bp.route("/<int:series_id>/occurrences/<recurrence>/move", methods=["GET", "POST"])
@login_required
def move_occurrence(series_id: int, recurrence: str):  # type: ignore[no-untyped-def]
    _may_change()
    series = series_service.series_for(db(), user=current_user, series_id=series_id)
    recurrence_id = _recurrence(recurrence)
    ctx = booking_context()
    occurrence = next((o for o in series_service.occurrences(db(), series, ctx=ctx)
                       if o.recurrence_id == recurrence_id), None)
    if occurrence is None:
        abort(404)
    local = occurrence.start_at.astimezone(ctx.rules.zone)
    form = dict(request.form) if request.method == "POST" else {"date": local.date().isoformat(),
                                                                 "time": local.strftime("%H:%M")}
    message, errors = None, {}
    if request.method == "POST":
        try:
            start = local_datetime(_date(form, "date"), _time(form, "time"), ctx.rules.zone)
            series_service.move_occurrence(db(), ctx=ctx, series=series, recurrence_id=recurrence_id, start_at=start)
            db().commit()
            flash(gettext("Mødet er flyttet, og deltagerne har fået besked"))
            return redirect(url_for("series.show", series_id=series.id))
        except DomainError as exc:
            db().rollback()
            message, errors = _errors(exc)
    return render_template("series/move.html", series=series, occurrence=occurrence, recurrence=recurrence,
                           form=form, errors=errors, message=message), 422 if errors or message else 200


@bp.get("/<int:series_id>/calendar.ics")
@login_required
def calendar(series_id: int):  # type: ignore[no-untyped-def]
    series = series_service.series_for(db(), user=current_user, series_id=series_id)
    data = series_service.build_series_calendar(db(), series, ctx=booking_context(), method=None).to_ical()
    return Response(data, mimetype="text/calendar",
                    headers={"Content-Disposition": 'attachment; filename="moedeserie.ics"'})
