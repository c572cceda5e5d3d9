"""The municipal advisor's pages: invitations to answer, her meetings, working hours, absences and
her calendar feed."""
from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user

from ..config import WEEKDAYS
from ..errors import N_, DomainError
from ..models import Role
from ..schemas import parse_input
from ..services import advisors, answers, calendar_feeds
from .audit import listed
from .context import booking_context, db, now, services
from .guards import only_for

bp = Blueprint("advisor", __name__, url_prefix="/advisor")

WEEKDAY_LABELS = (N_("Mandag"), N_("Tirsdag"), N_("Onsdag"), N_("Torsdag"), N_("Fredag"), N_("Lørdag"),
                  N_("Søndag"))


only_for(bp, Role.advisor)


# ---- inbox and meetings


def _index(*, form: dict[str, Any] | None = None, error_for: int | None = None, errors: dict[str, str] | None = None,
           message: str | None = None, status: int = 200):  # type: ignore[no-untyped-def]
    invitations = advisors.pending_invitations(db(), user=current_user, now=now())
    if error_for not in {p.id for p, _ in invitations}:
        error_for = None  # e.g. the meeting was cancelled meanwhile: the message goes at the top
    upcoming = advisors.upcoming_meetings(db(), user=current_user, now=now())
    listed(len({m.id for _, m in invitations} | {m.id for m, _ in upcoming}), invitations=len(invitations))
    links = services().mailer.links
    answer_urls = {p.id: url_for("answers.show", token=links.token_for(p)) for _, p in upcoming if p is not None}
    wards = advisors.wards_by_id(db(), {m.ward_id for m, _ in upcoming} | {m.ward_id for _, m in invitations})
    return render_template("advisor/index.html", invitations=invitations, upcoming=upcoming, wards=wards,
                           answer_urls=answer_urls, form=form or {}, error_for=error_for, errors=errors or {},
                           message=message), status


@bp.get("/")
def index():  # type: ignore[no-untyped-def]
    return _index()


@bp.post("/invitations/<int:participant_id>")
def answer(participant_id: int):  # type: ignore[no-untyped-def]
    participant = advisors.own_participant(db(), user=current_user, participant_id=participant_id)
    try:
        status = answers.parse_answer(request.form.get("status"))
        answers.record_answer(db(), ctx=booking_context(), participant=participant, status=status,
                              comment=request.form.get("comment"), actor=current_user)
        db().commit()
    except DomainError as exc:
        db().rollback()
        message, errors = exc.translated(gettext)
        return _index(form=dict(request.form), error_for=participant_id, errors=errors, message=message,
                      status=exc.status_code)
    flash(gettext("Dit svar er gemt"), "success")
    return redirect(url_for("advisor.index"))


# ---- working hours


def _hours_form() -> tuple[dict[str, str], bool]:
    hours, own = advisors.working_hours_of(db(), user=current_user, rules=services().rules)
    return {f"hours.{day}": advisors.format_hours(hours.get(i, [])) for i, day in enumerate(WEEKDAYS)}, own


@bp.route("/hours", methods=["GET", "POST"])
def hours():  # type: ignore[no-untyped-def]
    errors: dict[str, str] = {}
    message = None
    if request.method == "POST":
        form = {f"hours.{day}": request.form.get(f"hours.{day}", "") for day in WEEKDAYS}
        reset = request.form.get("action") == "reset"
        try:
            advisors.save_working_hours(db(), user=current_user, texts=None if reset else
                                        {day: form[f"hours.{day}"] for day in WEEKDAYS})
            db().commit()
            flash(gettext("Standardarbejdstiden gælder nu for dig") if reset else
                  gettext("Din arbejdstid er gemt"), "success")
            return redirect(url_for("advisor.hours"))
        except DomainError as exc:
            db().rollback()
            message, errors = exc.translated(gettext)
        own = True
    else:
        form, own = _hours_form()
    days = [(f"hours.{day}", gettext(label)) for day, label in zip(WEEKDAYS, WEEKDAY_LABELS)]
    return render_template("advisor/hours.html", form=form, errors=errors, message=message, days=days,
                           own=own), 422 if errors else 200


# ---- absences


def _absences(form: dict[str, Any], errors: dict[str, str], message: str | None,
              status: int = 200):  # type: ignore[no-untyped-def]
    absences = advisors.absences_of(db(), user=current_user, now=now())
    return render_template("advisor/absences.html", absences=absences, form=form, errors=errors,
                           message=message), status


@bp.get("/absences")
def absences():  # type: ignore[no-untyped-def]
    return _absences({}, {}, None)


@bp.post("/absences")
def add_absence():  # type: ignore[no-untyped-def]
    form = {key: request.form.get(key, "") for key in ("start_at", "end_at", "reason")}
    try:
        data = parse_input(advisors.AbsenceCreate, {k: v.strip() for k, v in form.items() if v.strip()})
        advisors.add_absence(db(), user=current_user, data=data, zone=services().rules.zone, now=now())
        db().commit()
    except DomainError as exc:
        db().rollback()
        message, errors = exc.translated(gettext)
        return _absences(form, errors, message, exc.status_code)
    flash(gettext("Fraværet er gemt; du bliver ikke booket i perioden"), "success")
    return redirect(url_for("advisor.absences"))


@bp.post("/absences/<int:absence_id>/delete")
def delete_absence(absence_id: int):  # type: ignore[no-untyped-def]
    advisors.delete_absence(db(), user=current_user, absence_id=absence_id)
    db().commit()
    flash(gettext("Fraværet er slettet"), "success")
    return redirect(url_for("advisor.absences"))


# ---- calendar feed


def _feed_urls(token: str) -> tuple[str, str]:
    """(https URL, webcal:// URL) of a feed token."""
    url = services().config.app.base_url + url_for("calendar_feeds.feed", token=token)
    return url, re.sub(r"^https?://", "webcal://", url)


@bp.get("/calendar-feed")
def calendar_feed():  # type: ignore[no-untyped-def]
    return render_template("advisor/calendar_feed.html", feed=calendar_feeds.active_feed(db(), user=current_user),
                           url=None, webcal_url=None)


@bp.post("/calendar-feed")
def issue_calendar_feed():  # type: ignore[no-untyped-def]
    token = calendar_feeds.issue_feed(db(), user=current_user, now=now())
    db().commit()
    url, webcal_url = _feed_urls(token)
    # Rendered, not redirected: the URL is shown this once and never stored in the session cookie.
    return render_template("advisor/calendar_feed.html", feed=calendar_feeds.active_feed(db(), user=current_user),
                           url=url, webcal_url=webcal_url)


@bp.post("/calendar-feed/revoke")
def revoke_calendar_feed():  # type: ignore[no-untyped-def]
    if calendar_feeds.revoke_feed(db(), user=current_user, now=now()):
        flash(gettext("Kalenderabonnementet er stoppet; det gamle link virker ikke længere"), "success")
    db().commit()
    return redirect(url_for("advisor.calendar_feed"))
