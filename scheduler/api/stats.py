"""API: uptake statistics (small counts suppressed) and the row-level uptake log export, for
coordinators (within their municipality or region) and admins."""
from __future__ import annotations

from typing import Any

from flask import g, jsonify, request

from ..services import statistics
from ..services.exports import COLUMNS
from ..services.statistics import COUNTS, GROUPINGS, RATES, StatsRow, UptakeStatistics
from ..web.dashboard import compute, read_filter, read_group_by, uptake_export
from ..web.context import db
from . import api
from .openapi import EXTRA_PATHS, EXTRA_SCHEMAS, _errors, _json, _query, _ref


def _filter():  # type: ignore[no-untyped-def]
    statistics.statistics_scope(db(), user=g.api_user)  # 403 before anything else for other roles
    return read_filter(request.args, user=g.api_user)


def row_json(row: StatsRow) -> dict[str, Any]:
    return {"key": row.key, "label": row.label, "details": row.details,
            "values": {name: cell.value for name, cell in row.cells.items()},
            "suppressed": [name for name, cell in row.cells.items() if cell.is_suppressed]}


def statistics_json(stats: UptakeStatistics, group_by: str) -> dict[str, Any]:
    return {"from": stats.start.isoformat(), "to": stats.end.isoformat(),
            "municipalities": list(stats.municipality_codes), "group_by": group_by, "threshold": stats.threshold,
            "columns": list(stats.columns(group_by)), "rows": [row_json(r) for r in stats.tables[group_by]],
            "total": row_json(stats.total)}


@api.get("/stats/uptake")
def uptake_stats():  # type: ignore[no-untyped-def]
    selection = _filter()
    group_by = read_group_by(request.args)
    return jsonify(statistics_json(compute(selection), group_by))


@api.get("/exports/uptake")
def uptake_log_export():  # type: ignore[no-untyped-def]
    selection = _filter()
    return uptake_export(selection, fmt=request.args.get("format", "csv"),
                         separator=request.args.get("separator", ";"))


_NUMBER = {"type": ["number", "null"]}
EXTRA_SCHEMAS.update({
    "StatisticsRow": {
        "type": "object", "required": ["key", "label", "details", "values", "suppressed"], "properties": {
            "key": {"type": "string", "description": "offer (municipality/code), category, municipality code, "
                                                     "month (YYYY-MM); empty for the total"},
            "label": {"type": "string"},
            "details": {"type": "object", "additionalProperties": {"type": "string"}},
            "values": {"type": "object", "description": "null: suppressed (see `suppressed`) or a rate of 0/0",
                       "properties": {name: _NUMBER for name in (*COUNTS, *RATES)},
                       "additionalProperties": False},
            "suppressed": {"type": "array", "items": {"enum": [*COUNTS, *RATES]},
                           "description": "figures hidden: below the threshold, or would reveal one that is"}}},
    "UptakeStatistics": {
        "type": "object", "required": ["from", "to", "municipalities", "group_by", "threshold", "columns", "rows",
                                       "total"], "properties": {
            "from": {"type": "string", "format": "date"}, "to": {"type": "string", "format": "date"},
            "municipalities": {"type": "array", "items": {"type": "string"}},
            "group_by": {"enum": list(GROUPINGS)}, "threshold": {"type": "integer", "minimum": 1},
            "columns": {"type": "array", "items": {"type": "string"}},
            "rows": {"type": "array", "items": _ref("StatisticsRow")}, "total": _ref("StatisticsRow")}},
})

_FILTER = [
    _query("from", {"type": "string", "format": "date"}),
    _query("to", {"type": "string", "format": "date"}),
    {**_query("municipality", {"type": "array", "items": {"type": "string", "pattern": "^[0-9]{4}$"}}),
     "style": "form", "explode": True,
     "description": "Repeat (or separate by commas); none: every municipality the caller may see"},
]
EXTRA_PATHS.append({
    "/stats/uptake": {"get": {
        "summary": "Meetings, offers presented, responses and uptake, grouped; small counts suppressed",
        "description": "Meetings whose start lies in [from, to] (local dates; default: the last twelve months). "
                       "Counts below the configured threshold, and the cells that would reveal them, are null "
                       "and listed in `suppressed`. Coordinators and admins only.",
        "parameters": [*_FILTER, _query("group_by", {"enum": list(GROUPINGS), "default": "offer"})],
        "responses": {"200": {"description": "The figures", "content": _json(_ref("UptakeStatistics"))},
                      **_errors(401, 403, 422)}}},
    "/exports/uptake": {"get": {
        "summary": "The uptake log: one row per offer presented, with a pseudonymous patient key",
        "description": "No names, CPR numbers, notes or contact data. CSV is UTF-8 with a byte-order mark, "
                       "`;`-separated unless separator=','. Streamed. Coordinators and admins only.",
        "parameters": [*_FILTER, _query("format", {"enum": ["csv", "xlsx", "json"], "default": "csv"}),
                       _query("separator", {"enum": [";", ","], "default": ";"})],
        "responses": {"200": {"description": "The log as a download", "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                "schema": {"type": "string", "contentEncoding": "binary"}},
            "application/json": {"schema": {"type": "array", "items": {
                "type": "object", "required": list(COLUMNS), "additionalProperties": False,
                "properties": {name: {"type": ["string", "null"]} for name in COLUMNS}}}}}},
            **_errors(401, 403, 422)}}},
})
