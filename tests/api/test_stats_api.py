"""API: uptake statistics with suppressed cells as null plus a flag, and the uptake log export; only
coordinators (within their scope) and admins; documented in the OpenAPI document."""
from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

from scheduler.models import Role

from ..uptake_data import build
from .test_openapi import conforms, document  # noqa: F401  (fixtures)

API = "/api/v1"
QUERY = {"from": "2026-09-01", "to": "2026-11-30", "municipality": ["0540", "0306"]}


@pytest.fixture
def uptake(session, factory, world):
    data = build(session, factory, ward_code="ONK-A")
    session.commit()
    return data


@pytest.fixture
def coordinator(session, factory, api_token):
    user = factory.user(role=Role.coordinator)
    session.commit()
    return api_token(user)


def test_statistics_come_back_with_suppressed_cells_as_null_and_flagged(client, uptake, coordinator, conforms):
    response = client.get(f"{API}/stats/uptake", query_string={**QUERY, "group_by": "month"}, headers=coordinator)
    conforms("get", "/stats/uptake", response, 200)
    body = response.json
    assert (body["from"], body["to"], body["municipalities"], body["group_by"], body["threshold"]) == (
        "2026-09-01", "2026-11-30", ["0306", "0540"], "month", 5)
    assert [r["key"] for r in body["rows"]] == ["2026-09", "2026-10", "2026-11"]
    october = body["rows"][1]
    assert {k: october["values"][k] for k in ("booked", "held", "no_show", "cancelled", "unrecorded")} == {
        "booked": 9, "held": 8, "no_show": None, "cancelled": None, "unrecorded": 0}
    assert {"no_show", "cancelled"} <= set(october["suppressed"]) and "held" not in october["suppressed"]
    total = body["total"]
    assert total["values"]["presented"] == 36 and total["values"]["accepted_rate"] == pytest.approx(20 / 36)
    assert total["values"]["considering"] is None and "considering_rate" in total["suppressed"]
    assert body["columns"][:5] == ["booked", "held", "no_show", "cancelled", "unrecorded"]

    offers = client.get(f"{API}/stats/uptake", query_string={**QUERY, "municipality": "0540,0306"},
                        headers=coordinator).json
    assert offers["group_by"] == "offer" and "booked" not in offers["columns"]
    genop = next(r for r in offers["rows"] if r["key"] == "0540/GENOP")
    assert genop["details"] == {"municipality_code": "0540", "offer_code": "GENOP", "category": "genoptraening"}
    for group_by in ("category", "municipality"):
        conforms("get", "/stats/uptake", client.get(
            f"{API}/stats/uptake", query_string={**QUERY, "group_by": group_by}, headers=coordinator), 200)


def test_the_default_period_is_the_last_twelve_months(client, coordinator):
    body = client.get(f"{API}/stats/uptake", headers=coordinator).json
    assert (body["from"], body["to"]) == ("2025-12-01", "2026-11-23")
    assert len(body["municipalities"]) == 98  # a coordinator without municipality or region sees all


def test_who_may_ask(client, world, session, factory, api_token, uptake, conforms):
    conforms("get", "/stats/uptake", client.get(f"{API}/stats/uptake"), 401)
    for user in (world.secretary, world.advisor):
        for path in ("/stats/uptake", "/exports/uptake"):
            conforms("get", path, client.get(f"{API}{path}", query_string={"from": "x"}, headers=api_token(user)),
                     403)
    local = factory.user(role=Role.coordinator, municipality_code="0540")
    regional = factory.user(role=Role.coordinator)
    regional.region_code = "DK-85"  # Sjælland: Odsherred
    admin = factory.user(role=Role.admin)
    session.commit()
    denied = client.get(f"{API}/stats/uptake", query_string=QUERY, headers=api_token(local))
    conforms("get", "/stats/uptake", denied, 403)
    assert "municipality" in denied.json["fields"] and "0306" in denied.json["error"]
    mine = client.get(f"{API}/stats/uptake", query_string={"from": "2026-09-01", "to": "2026-11-30"},
                      headers=api_token(local)).json
    assert mine["municipalities"] == ["0540"] and mine["total"]["values"]["booked"] == 20
    zealand = client.get(f"{API}/stats/uptake", query_string={**QUERY, "municipality": "0306"},
                         headers=api_token(regional)).json
    assert zealand["total"]["values"]["booked"] == 6
    exported = client.get(f"{API}/exports/uptake", query_string={**QUERY, "municipality": "0540"},
                          headers=api_token(regional))
    conforms("get", "/exports/uptake", exported, 403)
    assert client.get(f"{API}/stats/uptake", query_string=QUERY, headers=api_token(admin)).status_code == 200


def test_bad_input_names_the_field(client, coordinator, conforms):
    for query, field in (({"group_by": "colour"}, "group_by"), ({"from": "2026-02-30"}, "from"),
                         ({"from": "2026-12-01", "to": "2026-11-01"}, "to"), ({"municipality": "9999"}, "municipality")):
        response = client.get(f"{API}/stats/uptake", query_string=query, headers=coordinator)
        conforms("get", "/stats/uptake", response, 422)
        assert field in response.json["fields"], query
    for query, field in (({"format": "pdf"}, "format"), ({"separator": "|"}, "separator")):
        response = client.get(f"{API}/exports/uptake", query_string=query, headers=coordinator)
        conforms("get", "/exports/uptake", response, 422)
        assert field in response.json["fields"]


def test_the_uptake_log_in_each_format(client, uptake, coordinator, conforms):
    response = client.get(f"{API}/exports/uptake", query_string=QUERY, headers=coordinator)
    conforms("get", "/exports/uptake", response, 200)
    assert response.is_streamed
    assert response.headers["Content-Disposition"] == 'attachment; filename="uptake-2026-09-01-2026-11-30.csv"'
    assert response.headers["Cache-Control"] == "no-store"
    rows = list(csv.DictReader(io.StringIO(response.data.decode("utf-8-sig")), delimiter=";"))
    assert len(rows) == 36 and rows[0]["ward_code"] == "ONK-A"

    comma = client.get(f"{API}/exports/uptake", query_string={**QUERY, "separator": ","}, headers=coordinator)
    assert list(csv.DictReader(io.StringIO(comma.data.decode("utf-8-sig")), delimiter=",")) == rows

    xlsx = client.get(f"{API}/exports/uptake", query_string={**QUERY, "format": "xlsx"}, headers=coordinator)
    conforms("get", "/exports/uptake", xlsx, 200)
    assert xlsx.headers["Content-Disposition"].endswith('.xlsx"')
    sheet = load_workbook(io.BytesIO(xlsx.data), read_only=True)["uptake"]
    assert len(list(sheet.iter_rows(values_only=True))) == 37

    as_json = client.get(f"{API}/exports/uptake", query_string={**QUERY, "format": "json"}, headers=coordinator)
    conforms("get", "/exports/uptake", as_json, 200)  # checks every row against the documented schema
    assert [r["patient_key"] for r in as_json.json] == [r["patient_key"] for r in rows]
