"""Exports for evaluation: the row-level uptake log (one row per offer presented, pseudonymised)
and aggregated statistics tables, as CSV, XLSX and JSON.

The uptake log never holds names, CPR numbers, notes, e-mail addresses or phone numbers: the
patient appears only as a keyed hash of her stored CPR digest (never decrypted here, and kept when
retention removes the CPR number itself). Rows are read from the database as they are written
(psycopg's `stream` on PostgreSQL) and written in chunks, so an export of millions of rows runs in
bounded memory.
"""
from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from sqlalchemy import func, type_coerce
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.types import NullType
from sqlmodel import Session, select

from ..errors import N_, InvalidInput
from ..models import Meeting, Municipality, Offer, OfferPresentation, Participant, ParticipantRole, Ward
from .reading import reading_connection
from .statistics import StatsRow, UptakeStatistics, check_period, period_bounds

COLUMNS = ("meeting_date", "municipality_code", "municipality_name", "ward_code", "offer_code", "offer_category",
           "response", "uptake_status", "started_on", "meeting_status", "meeting_outcome", "meeting_type",
           "patient_key")
SEPARATORS = (";", ",")
BATCH_ROWS = 1000
CHUNK_BYTES = 64 * 1024
XLSX_MAX_ROWS = 1_048_576  # per sheet, header included; more rows continue on the next sheet
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class ExportFormat:
    media_type: str
    extension: str


FORMATS = {
    "csv": ExportFormat("text/csv", "csv"),
    "xlsx": ExportFormat("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
    "json": ExportFormat("application/json", "json"),
}


# ---- the pseudonymous patient key


def export_key(*, configured: str, secret_key: str) -> bytes:
    """The key of the patient hash: `statistics.export_key`, else one derived from the app's secret."""
    if configured:
        return configured.encode("utf-8")
    return hmac.new(secret_key.encode("utf-8"), b"discharge-scheduler export key v1", hashlib.sha256).digest()


def patient_key(key: bytes, *, cpr_digest: str | None, meeting_uid: str) -> str:
    """HMAC-SHA256 of the patient's CPR digest (else of the meeting): the same patient gets the same
    key in every export made with the same key, and neither hash can be turned back into the CPR."""
    message = f"patient:{cpr_digest}" if cpr_digest else f"meeting:{meeting_uid}"
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def neutralize(value: object) -> object:
    """A text cell a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


# ---- rows


def _patient_digest():  # type: ignore[no-untyped-def]
    return (select(func.min(Participant.cpr_digest))
            .where(Participant.meeting_id == Meeting.id, Participant.role == ParticipantRole.patient,
                   Participant.cpr_digest.is_not(None))
            .correlate(Meeting).scalar_subquery())


def _uptake_query(*, start: date, end: date, municipality_codes: Sequence[str], zone: ZoneInfo):  # type: ignore[no-untyped-def]
    check_period(start, end)
    start_at, end_at = period_bounds(start, end, zone)
    return (select(_as_stored(Meeting.start_at), Meeting.municipality_code, Municipality.name, Ward.code, Offer.code,
                   Offer.category, _as_stored(OfferPresentation.response), _as_stored(OfferPresentation.uptake),
                   OfferPresentation.started_on, _as_stored(Meeting.status), _as_stored(Meeting.outcome),
                   Meeting.meeting_type, Meeting.uid, _patient_digest().label("cpr_digest"))
            .select_from(OfferPresentation)
            .join(Meeting, Meeting.id == OfferPresentation.meeting_id)
            .join(Offer, Offer.id == OfferPresentation.offer_id)
            .join(Municipality, Municipality.code == Meeting.municipality_code)
            .join(Ward, Ward.id == Meeting.ward_id)
            .where(Meeting.start_at >= start_at, Meeting.start_at < end_at,
                   Meeting.municipality_code.in_(tuple(municipality_codes))))


def _as_stored(column):  # type: ignore[no-untyped-def]
    """The column as the driver returns it, without SQLAlchemy's conversion of every row: enums are
    stored by their value, the very text the log holds; a meeting's start is converted once per
    meeting (`_stream`), not once per offer row. Only the Python side changes: the SQL is the same."""
    return type_coerce(column, NullType())


def count_uptake_rows(session: Session, *, start: date, end: date, municipality_codes: Sequence[str],
                      zone: ZoneInfo) -> int:
    query = _uptake_query(start=start, end=end, municipality_codes=municipality_codes, zone=zone)
    return session.exec(select(func.count()).select_from(query.with_only_columns(Meeting.id).subquery())).one()


def uptake_rows(engine: Engine, *, start: date, end: date, municipality_codes: Sequence[str], zone: ZoneInfo,
                key: bytes) -> Iterator[tuple[object, ...]]:
    """The uptake log, one tuple per offer presented (in COLUMNS order), streamed from the database.
    The period is checked now; the rows are read as they are consumed."""
    query = _uptake_query(start=start, end=end, municipality_codes=municipality_codes, zone=zone) \
        .order_by(Meeting.start_at, Meeting.id, Offer.code)
    return _stream(engine, query, zone=zone, key=key)


def _stream(engine: Engine, query, *, zone: ZoneInfo, key: bytes) -> Iterator[tuple[object, ...]]:  # type: ignore[no-untyped-def]
    """The rows come meeting by meeting (ordered by start and id), one per offer presented: the
    meeting's patient key is worked out at its first row and reused for the others, and its local
    date only when its start differs from the previous meeting's (many start at the same time)."""
    with reading_connection(engine) as connection:
        to_utc = _start_to_utc(engine.dialect)
        meeting = meeting_start = meeting_date = patient = None
        for (start_at, municipality_code, municipality_name, ward_code, offer_code, category, response, uptake,
             started_on, status, outcome, meeting_type, uid, digest) in _driver_rows(connection, query):
            if uid != meeting:
                meeting, patient = uid, patient_key(key, cpr_digest=digest, meeting_uid=uid)
                if start_at != meeting_start:
                    meeting_start, meeting_date = start_at, to_utc(start_at).astimezone(zone).date()
            yield (meeting_date, municipality_code, municipality_name, ward_code, offer_code, category, response,
                   uptake, started_on, status, outcome, meeting_type, patient)


def _start_to_utc(dialect: Dialect) -> Callable[[object], datetime]:
    """SQLAlchemy's own conversion of a stored meeting start (text on SQLite, a timestamptz on
    PostgreSQL) to an aware UTC datetime, for the starts `_as_stored` leaves as they are."""
    return Meeting.__table__.c.start_at.type.dialect_impl(dialect).result_processor(dialect, None)


def _driver_rows(connection: Connection, query) -> Iterable[Sequence[object]]:  # type: ignore[no-untyped-def]
    """The rows, read as they are consumed; the columns marked `_as_stored` as the driver returns them."""
    if connection.dialect.driver == "psycopg":
        return _psycopg_stream(connection, query)
    return connection.execution_options(stream_results=True, yield_per=BATCH_ROWS).execute(query)


def _psycopg_stream(connection: Connection, query) -> Iterator[Sequence[object]]:  # type: ignore[no-untyped-def]
    """The rows through psycopg's `stream`: the server sends them while the previous ones are being
    written. SQLAlchemy streams through a server-side cursor, whose next batch the server only
    computes when it is asked for, so the two take turns (the national benchmark: 7.1 s, not 5.0 s)."""
    compiled = query.compile(dialect=connection.dialect)
    state = compiled.construct_expanded_state()
    processors = {name: bind.type.dialect_impl(connection.dialect).bind_processor(connection.dialect)
                  for name, bind in compiled.binds.items()} | dict(state.processors)
    parameters = {name: processors[name](value) if processors.get(name) else value
                  for name, value in state.parameters.items()}  # as SQLAlchemy binds them (enums by value)
    with connection.connection.driver_connection.cursor() as cursor:
        yield from cursor.stream(state.statement, parameters)


# ---- writers: each turns rows into byte chunks


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return str(value)


def _csv_cells(row: Sequence[object]) -> list[str]:
    """`neutralize(_text(value))` of every cell, with the common kinds inline: this runs for every
    cell of millions of rows."""
    return [(("'" + value if value and value[0] in _FORMULA_FIRST else value) if value.__class__ is str else
             "" if value is None else value.isoformat() if value.__class__ is date else neutralize(_text(value)))
            for value in row]


_FORMULA_FIRST = frozenset(FORMULA_STARTS)


def _unquoted_line(cells: list[str], separator: str) -> str | None:
    """The line of cells none of which needs quotes (no separator, quote or line break in any, and not
    one empty cell alone): the cells joined, exactly as the csv module writes them, and several times
    faster. None when some cell needs quoting: the csv module writes that line."""
    line = separator.join(cells)
    if not line or line.count(separator) != len(cells) - 1 or '"' in line or "\r" in line or "\n" in line:
        return None
    return line + "\r\n"


def csv_chunks(rows: Iterable[Sequence[object]], *, header: Sequence[str] = COLUMNS,
               separator: str = ";") -> Iterator[bytes]:
    """UTF-8 with a byte-order mark (Danish Excel then reads æøå), `;` unless asked for `,`."""
    if separator not in SEPARATORS:
        raise InvalidInput(N_("Skilletegnet skal være ; eller ,"), field="separator")
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=separator, lineterminator="\r\n")  # as `_unquoted_line` ends lines
    buffer.write("\ufeff")
    writer.writerow(header)
    for row in rows:
        cells = _csv_cells(row)
        line = _unquoted_line(cells, separator)
        if line is None:
            writer.writerow(cells)
        else:
            buffer.write(line)
        if buffer.tell() >= CHUNK_BYTES:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def json_chunks(rows: Iterable[Sequence[object]], *, header: Sequence[str] = COLUMNS) -> Iterator[bytes]:
    """A JSON array of objects, written as it goes. Values are data, not spreadsheet cells: kept as they are."""
    encode = json.JSONEncoder(ensure_ascii=False, default=_iso).encode
    parts: list[str] = ["["]
    size, separator = 1, "\n"
    for row in rows:
        text = separator + encode(dict(zip(header, row)))
        parts.append(text)
        size += len(text)
        separator = ",\n"
        if size >= CHUNK_BYTES:
            yield "".join(parts).encode("utf-8")
            parts, size = [], 0
    parts.append("\n]\n")
    yield "".join(parts).encode("utf-8")


def _iso(value: object) -> str:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _xlsx_value(value: object) -> object:
    if isinstance(value, str):
        return neutralize(ILLEGAL_CHARACTERS_RE.sub("", value))
    return value


def xlsx_chunks(rows: Iterable[Sequence[object]], *, header: Sequence[str] = COLUMNS,
                sheet_title: str = "uptake") -> Iterator[bytes]:
    """An .xlsx workbook (openpyxl write-only: rows go to a temporary file, not memory). A zip is only
    complete at the end, so the chunks come once every row is written."""
    workbook = Workbook(write_only=True)
    sheet, count, number = None, XLSX_MAX_ROWS, 0
    for row in rows:
        if count >= XLSX_MAX_ROWS:
            number += 1
            sheet = workbook.create_sheet(sheet_title if number == 1 else f"{sheet_title} {number}")
            sheet.append(list(header))
            count = 1
        sheet.append([_xlsx_value(v) for v in row])  # type: ignore[union-attr]
        count += 1
    if sheet is None:
        workbook.create_sheet(sheet_title).append(list(header))
    with tempfile.TemporaryFile() as spool:
        workbook.save(spool)
        spool.seek(0)
        while chunk := spool.read(CHUNK_BYTES):
            yield chunk


def export_chunks(rows: Iterable[Sequence[object]], *, fmt: str, separator: str = ";",
                  header: Sequence[str] = COLUMNS) -> Iterator[bytes]:
    if fmt == "csv":
        return csv_chunks(rows, header=header, separator=separator)
    if fmt == "xlsx":
        return xlsx_chunks(rows, header=header)
    if fmt == "json":
        return json_chunks(rows, header=header)
    raise InvalidInput(N_("Ukendt format; brug csv, xlsx eller json"), field="format")


def check_format(fmt: str, separator: str = ";") -> ExportFormat:
    """Fail before any row is read (a streamed response cannot turn into an error page halfway)."""
    if fmt not in FORMATS:
        raise InvalidInput(N_("Ukendt format; brug csv, xlsx eller json"), field="format")
    if separator not in SEPARATORS:
        raise InvalidInput(N_("Skilletegnet skal være ; eller ,"), field="separator")
    return FORMATS[fmt]


def export_filename(*, prefix: str, start: date, end: date, fmt: str) -> str:
    return f"{prefix}-{start.isoformat()}-{end.isoformat()}.{FORMATS[fmt].extension}"


def counted(rows: Iterable[tuple[object, ...]], on_rows: Callable[[int], None],
            every: int = BATCH_ROWS) -> Iterator[tuple[object, ...]]:
    """Pass rows through, telling `on_rows` how many went by every so often (progress bars)."""
    passed = 0
    for row in rows:
        yield row
        passed += 1
        if passed == every:
            on_rows(passed)
            passed = 0
    if passed:
        on_rows(passed)


# ---- aggregated tables


def statistics_rows(stats: UptakeStatistics, *, group_by: str, labels: dict[str, str], suppressed_text: str,
                    row_label: Callable[[StatsRow], str] = lambda row: row.label,
                    ) -> tuple[list[str], list[list[object]]]:
    """Header and rows of one grouping's table plus its total, suppressed cells as `suppressed_text`."""
    columns = stats.columns(group_by)
    header = [labels.get("key", "key"), labels.get("label", "label"), *(labels.get(c, c) for c in columns)]
    rows: list[list[object]] = []
    for row in stats.tables[group_by]:
        rows.append([row.key, row_label(row), *_cells(row, columns, suppressed_text)])
    rows.append(["", labels.get("total", "total"), *_cells(stats.total, columns, suppressed_text)])
    return header, rows


def _cells(row: StatsRow, columns: Sequence[str], suppressed_text: str) -> list[object]:
    return [suppressed_text if row.cells[c].is_suppressed else
            ("" if row.cells[c].value is None else _rounded(row.cells[c].value)) for c in columns]


def _rounded(value: int | float | None) -> object:
    return round(value, 4) if isinstance(value, float) else value
