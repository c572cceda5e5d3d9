"""The personal answer link from the invitation e-mail: no login, the signed token is the key.

Mail scanners open every link in an e-mail, so GET only shows the meeting; the answer is a POST.
"""
from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_babel import gettext

from ..errors import DomainError
from ..models import Meeting, ParticipantRole, Ward
from ..services import answers
from ..services.links import BadLink, ExpiredLink
from .audit import opened
from .context import booking_context, db, services

bp = Blueprint("answers", __name__)


@bp.after_request
def not_for_search_engines(response):  # type: ignore[no-untyped-def]
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


@bp.errorhandler(BadLink)
@bp.errorhandler(ExpiredLink)
def bad_link(exc: BadLink | ExpiredLink):  # type: ignore[no-untyped-def]
    message, _ = exc.translated(gettext)
    return render_template("answers/invalid.html", message=message, expired=isinstance(exc, ExpiredLink)), \
        exc.status_code


def _page(token: str, participant, *, form=None, errors=None, message=None, status=200):  # type: ignore[no-untyped-def]
    meeting = opened(db().get(Meeting, participant.meeting_id), party=participant.role)
    # The ward is for the professionals; no page here ever shows the patient's name or CPR.
    ward = db().get(Ward, meeting.ward_id) if participant.role in (ParticipantRole.staff,
                                                                   ParticipantRole.advisor) else None
    return render_template("answers/show.html", token=token, participant=participant, meeting=meeting, ward=ward,
                           can_answer=answers.is_answerable(meeting), form=form or {}, errors=errors or {},
                           message=message), status


@bp.get("/answer/<token>")
def show(token: str):  # type: ignore[no-untyped-def]
    participant = answers.participant_for_token(db(), links=services().mailer.links, token=token)
    return _page(token, participant)


@bp.post("/answer/<token>")
def answer(token: str):  # type: ignore[no-untyped-def]
    participant = answers.participant_for_token(db(), links=services().mailer.links, token=token)
    try:
        status = answers.parse_answer(request.form.get("status"))
        answers.record_answer(db(), ctx=booking_context(), participant=participant, status=status,
                              comment=request.form.get("comment"), actor=None)
        db().commit()
    except DomainError as exc:
        db().rollback()
        message, errors = exc.translated(gettext)
        return _page(token, participant, form=dict(request.form), errors=errors, message=message,
                     status=exc.status_code)
    return render_template("answers/thanks.html", token=token, participant=participant,
                           meeting=db().get(Meeting, participant.meeting_id))
