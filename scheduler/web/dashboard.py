"""The coordinator's dashboard: uptake figures for a period and municipalities, with suppressed small
counts, server-rendered SVG charts, and downloads of the uptake log and of the tables."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import Blueprint, Response, abort, current_app, render_template, request
from flask_babel import format_date, format_percent, gettext
from flask_login import current_user
from werkzeug.datastructures import MultiDict

from ..errors import N_, DomainError, InvalidInput
from ..models import Role, User
from ..schemas import optional_day
from ..services import audit, exports, statistics
from ..services.reading import reading_session
from ..services.statistics import GROUPING_LABELS, LABELS, StatsRow, UptakeStatistics
from .audit import exported
from .context import db, now, services
from .guards import only_for

bp = Blueprint("dashboard", __name__)
STATISTICS_ROLES = (Role.coordinator, Role.admin)

CHART_WIDTH = 640
LABEL_WIDTH = 220
BAR_HEIGHT = 18
BAR_GAP = 10


@dataclass(frozen=True)
class StatsFilter:
    start: date
    end: date
    municipality_codes: list[str]  # resolved: within the user's scope
    requested: list[str]  # as asked for (empty: all of her scope)


def read_filter(args: MultiDict, *, user: User) -> StatsFilter:
    """Period (default: the last twelve months up to today) and municipalities from query arguments;
    `municipality` may repeat or hold a comma-separated list."""
    today = now().astimezone(services().config.zone).date()
    end = optional_day(args, "to") or today
    start = optional_day(args, "from") or date(end.year - 1 + (end.month == 12), end.month % 12 + 1, 1)
    statistics.check_period(start, end)
    requested = [code for value in args.getlist("municipality") for code in value.split(",") if code.strip()]
    codes = statistics.resolve_municipalities(db(), user=user, requested=requested)
    return StatsFilter(start=start, end=end, municipality_codes=codes, requested=sorted(set(requested)))


def read_group_by(args: MultiDict, default: str = "offer") -> str:
    group_by = args.get("group_by") or default
    if group_by not in statistics.GROUPINGS:
        raise InvalidInput(N_("Ukendt gruppering; brug offer, category, municipality eller month"), field="group_by")
    return group_by


def compute(selection: StatsFilter) -> UptakeStatistics:
    config = services().config
    db().commit()  # end the request's own transaction (on SQLite: the write lock) before the long read
    with reading_session(services().engine) as session:
        return statistics.uptake_statistics(session, start=selection.start, end=selection.end,
                                            municipality_codes=selection.municipality_codes, zone=config.zone,
                                            threshold=config.statistics.suppression_threshold)


def app_export_key() -> bytes:
    return exports.export_key(configured=services().config.statistics.export_key,
                              secret_key=current_app.config["SECRET_KEY"])


def uptake_export(selection: StatsFilter, *, fmt: str, separator: str) -> Response:
    """The row-level uptake log as a streamed download."""
    kind = exports.check_format(fmt, separator)
    rows = exports.uptake_rows(services().engine, start=selection.start, end=selection.end,
                               municipality_codes=selection.municipality_codes, zone=services().config.zone,
                               key=app_export_key())
    exported(audit.UPTAKE_LOG, detail=_described(selection, fmt=fmt))
    name = exports.export_filename(prefix="uptake", start=selection.start, end=selection.end, fmt=fmt)
    return _download(exports.export_chunks(rows, fmt=fmt, separator=separator), kind.media_type, name)


def _described(selection: StatsFilter, *, fmt: str) -> str:
    return audit.export_detail(start=selection.start, end=selection.end,
                               municipality_codes=selection.municipality_codes, fmt=fmt)


def _download(chunks: Any, media_type: str, filename: str) -> Response:
    response = Response(chunks, mimetype=media_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


def suppressed_text(threshold: int) -> str:
    return gettext("<%(threshold)s", threshold=threshold)


def row_label(group_by: str, row: StatsRow) -> str:
    if group_by == "month":
        year, month = map(int, row.key.split("-"))
        return format_date(date(year, month, 1), "LLLL y")
    if group_by == "offer":
        return f"{row.label} ({row.details['municipality_code']})"
    if group_by == "category":
        return gettext(row.label)  # the category's Danish name, a message id
    return row.label


def cell_text(row: StatsRow, column: str, threshold: int) -> str:
    cell = row.cells[column]
    if cell.is_suppressed:  # a share of a hidden count is hidden with it
        return gettext("skjult") if column.endswith("_rate") else suppressed_text(threshold)
    if cell.value is None:
        return "–"
    if column.endswith("_rate"):
        return format_percent(cell.value, "#0%")
    return str(cell.value)


@dataclass(frozen=True)
class Bar:
    label: str
    text: str
    y: int
    width: int
    is_suppressed: bool


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    bars: list[Bar]
    height: int
    bar_x: int = LABEL_WIDTH
    bar_height: int = BAR_HEIGHT


def bar_chart(id_: str, title: str, rows: list[tuple[str, StatsRow]], column: str, threshold: int) -> Chart:
    """Horizontal bars, one per row; rates on a 0-100 % scale, counts against the largest shown."""
    is_rate = column.endswith("_rate")
    shown = [r.cells[column].value for _, r in rows if r.cells[column].value is not None]
    top = 1.0 if is_rate else max(shown, default=0) or 1
    room = CHART_WIDTH - LABEL_WIDTH - 60
    bars = []
    for i, (label, row) in enumerate(rows):
        value = row.cells[column].value
        width = 0 if value is None else round(room * value / top)
        bars.append(Bar(label=label[:32], text=cell_text(row, column, threshold), y=i * (BAR_HEIGHT + BAR_GAP),
                        width=width, is_suppressed=row.cells[column].is_suppressed))
    return Chart(id=id_, title=title, bars=bars, height=max(len(bars), 1) * (BAR_HEIGHT + BAR_GAP))


TABLE_SECTIONS = (
    (N_("Møder"), statistics.MEETING_COUNTS),
    (N_("Tilbud og svar"), statistics.RESPONSE_COUNTS + ("accepted_rate", "declined_rate", "considering_rate",
                                                        "referred_rate")),
    (N_("Opstart blandt accepterede og henviste tilbud"),
     statistics.UPTAKE_COUNTS + ("started_rate", "not_started_rate", "unknown_rate")),
)


only_for(bp, *STATISTICS_ROLES)


@bp.get("/dashboard")
def index():  # type: ignore[no-untyped-def]
    scope = statistics.statistics_scope(db(), user=current_user)
    form = {"from": request.args.get("from", ""), "to": request.args.get("to", ""),
            "municipality": request.args.getlist("municipality")}
    try:
        group_by = read_group_by(request.args)
        selection = read_filter(request.args, user=current_user)
    except DomainError as exc:
        message, errors = exc.translated(gettext)
        return render_template("dashboard/index.html", scope=scope, form=form, errors=errors, message=message,
                               stats=None), exc.status_code
    stats = compute(selection)
    threshold = stats.threshold
    rows = [(row_label(group_by, r), r) for r in stats.tables[group_by]]
    charts = []
    if group_by in ("municipality", "month"):
        charts.append(bar_chart("chart-held", gettext("Afholdte møder"), rows, "held", threshold))
    charts += [bar_chart("chart-accepted", gettext("Andel af præsenterede tilbud, der blev accepteret"), rows,
                         "accepted_rate", threshold),
               bar_chart("chart-started", gettext("Andel af accepterede og henviste tilbud, der blev startet"),
                         rows, "started_rate", threshold)]
    sections = [(title, columns) for title, columns in TABLE_SECTIONS
                if group_by in ("municipality", "month") or columns is not statistics.MEETING_COUNTS]
    form.update({"from": selection.start.isoformat(), "to": selection.end.isoformat(),
                 "municipality": selection.requested})
    return render_template("dashboard/index.html", scope=scope, form=form, errors={}, message=None, stats=stats,
                           group_by=group_by, rows=rows, charts=charts, sections=sections, labels=LABELS,
                           grouping_labels=GROUPING_LABELS, cell_text=cell_text,
                           suppressed=suppressed_text(threshold))


@bp.get("/dashboard/uptake.<fmt>")
def download_uptake(fmt: str):  # type: ignore[no-untyped-def]
    if fmt not in ("csv", "xlsx"):
        abort(404)
    selection = read_filter(request.args, user=current_user)
    return uptake_export(selection, fmt=fmt, separator=request.args.get("separator", ";"))


@bp.get("/dashboard/statistics.csv")
def download_statistics():  # type: ignore[no-untyped-def]
    separator = request.args.get("separator", ";")
    exports.check_format("csv", separator)
    group_by = read_group_by(request.args)
    selection = read_filter(request.args, user=current_user)
    stats = compute(selection)
    labels = {key: gettext(text) for key, text in LABELS.items()}
    labels.update(key=gettext("Nøgle"), label=gettext(GROUPING_LABELS[group_by]), total=gettext("I alt"))
    header, rows = exports.statistics_rows(stats, group_by=group_by, labels=labels,
                                           suppressed_text=suppressed_text(stats.threshold),
                                           row_label=lambda row: row_label(group_by, row))
    exported(audit.STATISTICS, detail=_described(selection, fmt="csv") + f" group_by={group_by}")
    name = exports.export_filename(prefix=f"statistics-{group_by}", start=selection.start, end=selection.end,
                                   fmt="csv")
    return _download(exports.csv_chunks(rows, header=header, separator=separator),
                     exports.FORMATS["csv"].media_type, name)
