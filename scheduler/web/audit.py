"""The audit trail on the web: what the pages and the API record when they show or export personal data,
and the admin's pages to search the trail and export it. Nothing here changes or deletes an entry.

Changes are recorded by the services that make them (services/booking.record_event); reads are recorded
here: every loader of one meeting passes it through `opened`, every list of meetings calls `listed`,
every export calls `exported`. Each commits its entry at once, so a read is recorded even if the page
fails afterwards.
"""
from __future__ import annotations

from flask import Blueprint, Response, g, render_template, request
from flask_babel import gettext
from flask_login import current_user

from ..errors import DomainError
from ..models import Meeting, ParticipantRole, Role, User
from ..services import audit, exports, users
from .context import db, now, services
from .guards import only_for

bp = Blueprint("audit", __name__, url_prefix="/admin/audit")
READS = ("GET", "HEAD")
# Offered as suggestions in the search form.
ACTIONS = (audit.VIEW, audit.CREATE, audit.UPDATE, audit.CANCEL, audit.EXPORT, audit.DELETE, audit.LOGIN,
           audit.LOGIN_FAILED, audit.LOCKOUT, audit.REVOKE)
OBJECT_TYPES = (audit.MEETING, audit.MEETING_LIST, audit.UPTAKE_LOG, audit.STATISTICS, audit.AUDIT_TRAIL,
                users.USER, users.API_TOKEN)


@bp.before_app_request
def remember_client():  # type: ignore[no-untyped-def]
    if request.endpoint != "static":
        audit.remember_client(db(), ip=request.remote_addr)


# ---- what the views record


def _actor() -> User | None:
    """The API token's user, else the logged-in user."""
    if g.get("api_user") is not None:
        return g.api_user
    return current_user._get_current_object() if current_user.is_authenticated else None


def opened(meeting: Meeting, *, party: ParticipantRole | None = None) -> Meeting:
    """Record a read of one meeting (page, invite, print, API): every meeting loader passes through here.
    `party`: opened from that party's personal answer link, without login, so no user is named."""
    if request.method in READS:
        detail = request.endpoint if party is None else f"{request.endpoint} role={party.value} via=answer_link"
        audit.record_meeting(db(), actor=None if party else _actor(), action=audit.VIEW, meeting=meeting, now=now(),
                             detail=detail)
        db().commit()
    return meeting


def listed(count: int, **shown: object) -> None:
    """Record one view of a list of meetings: which list, with which (validated) choices, how many meetings."""
    detail = " ".join([str(request.endpoint), *(f"{key}={value}" for key, value in shown.items()), f"count={count}"])
    audit.record(db(), actor=_actor(), action=audit.VIEW, object_type=audit.MEETING_LIST, now=now(), detail=detail)
    db().commit()


def exported(object_type: str, *, detail: str) -> None:
    """Record an export before its first byte goes out."""
    audit.record(db(), actor=_actor(), action=audit.EXPORT, object_type=object_type, now=now(),
                 detail=f"{request.endpoint} {detail}")
    db().commit()


# ---- the admin's pages


only_for(bp, Role.admin)


FILTER_FIELDS = ("email", "action", "object_type", "meeting_id", "from", "to")


def _search_page(*, result: audit.AuditPage | None, filter_args: dict[str, str], errors: dict[str, str],
                 message: str | None, status: int = 200):  # type: ignore[no-untyped-def]
    form = {name: request.args.get(name, "") for name in FILTER_FIELDS}
    return render_template("admin/audit.html", form=form, errors=errors, message=message, result=result,
                           filter_args=filter_args, actions=ACTIONS, object_types=OBJECT_TYPES), status


@bp.get("/")
def index():  # type: ignore[no-untyped-def]
    try:
        found = audit.parse_filter(request.args)
        page = audit.parse_page(request.args.get("page"))
    except DomainError as exc:
        message, errors = exc.translated(gettext)
        return _search_page(result=None, filter_args={}, errors=errors, message=message, status=exc.status_code)
    result = audit.search(db(), found=found, zone=services().config.zone, page=page)
    audit.record(db(), actor=_actor(), action=audit.VIEW, object_type=audit.AUDIT_TRAIL, now=now(),
                 detail=f"{found.describe()} page={page} count={len(result.entries)}")
    db().commit()
    return _search_page(result=result, filter_args=found.args(), errors={}, message=None)


@bp.get("/audit.csv")
def export():  # type: ignore[no-untyped-def]
    found = audit.parse_filter(request.args)
    separator = request.args.get("separator", ";")
    exports.check_format("csv", separator)
    exported(audit.AUDIT_TRAIL, detail=found.describe())
    rows = audit.export_rows(services().engine, found=found, zone=services().config.zone)
    response = Response(exports.csv_chunks(rows, header=audit.COLUMNS, separator=separator),
                        mimetype=exports.FORMATS["csv"].media_type)
    response.headers["Content-Disposition"] = 'attachment; filename="audit-trail.csv"'
    return response
