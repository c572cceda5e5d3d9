"""The coordinator dashboard: who gets in, figures with suppressed cells, SVG charts without inline
style, and the downloads (uptake log as CSV and XLSX, the table as CSV)."""
from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

from scheduler.models import Role

from ..uptake_data import build
from .html import parse

PERIOD = {"from": "2026-09-01", "to": "2026-11-30"}


@pytest.fixture
def uptake(session, factory):
    data = build(session, factory, ward_code="ONK-D")
    session.commit()
    return data


@pytest.fixture
def coordinator(session, factory):
    """A coordinator with no municipality or region: she sees every municipality."""
    user = factory.user(role=Role.coordinator, name="Karin Koordinator")
    session.commit()
    return user


@pytest.fixture
def regional(session, factory):
    user = factory.user(role=Role.coordinator, name="Rita Region")
    user.region_code = "DK-83"  # Syddanmark: Sønderborg, not Odsherred
    session.add(user)
    session.commit()
    return user


def cells(page, table_id):
    """{row key: {column: text}} of one table on the page."""
    table = page.by_id(table_id)
    return {tr.attrs["data-key"]: {td.attrs["data-column"]: td.text() for td in tr.find_all("td")}
            for tr in table.find_all("tr") if "data-key" in tr.attrs}


def test_only_coordinators_and_admins_get_in(client, client_for, factory, session, world, uptake):
    response = client.get("/dashboard")
    assert response.status_code == 302 and "/login" in response.location
    for user in (world.secretary, world.advisor):
        assert client_for(user).get("/dashboard").status_code == 403
        assert client_for(user).get("/dashboard/uptake.csv").status_code == 403
    admin = factory.user(role=Role.admin)
    session.commit()
    page = client_for(admin).get("/dashboard")
    assert page.status_code == 200
    assert parse(page.text).find_all("a", href="/dashboard"), "no link in the menu"


def test_figures_with_small_counts_hidden_and_charts_without_inline_style(client_for, coordinator, uptake):
    client = client_for(coordinator)
    response = client.get("/dashboard", query_string={**PERIOD, "municipality": ["0540", "0306"],
                                                       "group_by": "month"})
    assert response.status_code == 200, response.text
    page = parse(response.text)
    assert cells(page, "table-1") == {  # meetings per month (hand-computed in tests/services/test_statistics.py)
        "2026-09": {"booked": "8", "held": "6", "no_show": "<5", "cancelled": "<5", "unrecorded": "0"},
        "2026-10": {"booked": "9", "held": "8", "no_show": "<5", "cancelled": "<5", "unrecorded": "0"},
        "2026-11": {"booked": "9", "held": "6", "no_show": "<5", "cancelled": "0", "unrecorded": "<5"},
        "total": {"booked": "26", "held": "20", "no_show": "<5", "cancelled": "<5", "unrecorded": "<5"},
    }
    responses = cells(page, "table-2")
    assert responses["total"]["presented"] == "36" and responses["total"]["accepted"] == "20"
    assert responses["total"]["accepted_rate"] == "56%"  # 20 of 36
    assert responses["total"]["considering"] == "<5" and responses["total"]["considering_rate"] == "skjult"
    assert cells(page, "table-3")["total"]["started_rate"] == "62%"  # 16 of 26
    assert [th.text() for th in page.by_id("table-1").find_all("th", scope="row")][:3] == [
        "september 2026", "oktober 2026", "november 2026"]

    charts = page.find_all("svg")
    assert len(charts) == 3 and all(svg.attrs["role"] == "img" for svg in charts)
    held = charts[0]
    assert [t.text() for t in held.find_all("title")] == ["Afholdte møder"]
    widths = [int(r.attrs["width"]) for r in held.find_all("rect")]
    assert widths[0] == widths[2] < widths[1]  # 6, 8, 6 held meetings
    assert not [n for n in page.iter() if "style" in n.attrs] and "<script" not in response.text
    assert response.headers["Cache-Control"] == "no-store"

    offers = parse(client.get("/dashboard", query_string={**PERIOD, "group_by": "offer"}).text)
    assert "Genoptræning (0540)" in [th.text() for th in offers.by_id("table-1").find_all("th", scope="row")]
    categories = parse(client.get("/dashboard", query_string={**PERIOD, "group_by": "category"}).text)
    assert "Palliation" in [th.text() for th in categories.by_id("table-1").find_all("th", scope="row")]


def test_a_regional_coordinator_sees_her_region_only(client_for, regional, uptake):
    client = client_for(regional)
    page = parse(client.get("/dashboard", query_string=PERIOD).text)
    totals = {td.attrs["data-column"]: td.text() for td in page.by_id("totals").find_all("td")}
    assert totals["booked"] == "20"  # Sønderborg's meetings only
    offered = {o.attrs["value"] for o in page.find_all("option")}
    assert "0540" in offered and "0306" not in offered
    response = client.get("/dashboard", query_string={**PERIOD, "municipality": "0306"})
    assert response.status_code == 403
    error = parse(response.text).by_id("f-municipality-error")
    assert error is not None and "0306" in error.text()
    assert client.get("/dashboard/uptake.csv", query_string={**PERIOD, "municipality": "0306"}).status_code == 403


def test_bad_dates_are_shown_next_to_their_field(client_for, coordinator):
    client = client_for(coordinator)
    response = client.get("/dashboard", query_string={"from": "2026-13-01"})
    assert response.status_code == 422
    assert parse(response.text).by_id("f-from-error") is not None
    response = client.get("/dashboard", query_string={"from": "2026-12-01", "to": "2026-11-01"})
    assert response.status_code == 422 and parse(response.text).by_id("f-to-error") is not None
    assert client.get("/dashboard", query_string={"group_by": "colour"}).status_code == 422


def test_downloads(client_for, coordinator, uptake):
    client = client_for(coordinator)
    query = {**PERIOD, "municipality": ["0540", "0306"]}
    response = client.get("/dashboard/uptake.csv", query_string=query)
    assert response.status_code == 200
    assert response.mimetype == "text/csv" and response.mimetype_params["charset"] == "utf-8"
    assert response.headers["Content-Disposition"] == 'attachment; filename="uptake-2026-09-01-2026-11-30.csv"'
    assert response.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(response.data.decode("utf-8-sig")), delimiter=";"))
    assert len(rows) == 36 and {r["ward_code"] for r in rows} == {"ONK-D"}

    xlsx = client.get("/dashboard/uptake.xlsx", query_string=query)
    assert xlsx.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert len(list(load_workbook(io.BytesIO(xlsx.data), read_only=True)["uptake"].iter_rows())) == 37
    assert client.get("/dashboard/uptake.json", query_string=query).status_code == 404

    table = client.get("/dashboard/statistics.csv", query_string={**query, "group_by": "month"})
    assert table.headers["Content-Disposition"] == \
        'attachment; filename="statistics-month-2026-09-01-2026-11-30.csv"'
    lines = list(csv.reader(io.StringIO(table.data.decode("utf-8-sig")), delimiter=";"))
    header = lines[0]
    assert header[:4] == ["Nøgle", "Måned", "Bookede møder", "Afholdt"]
    october = dict(zip(header, lines[2]))
    assert (october["Nøgle"], october["Bookede møder"], october["Afholdt"], october["Aflyst"]) == \
        ("2026-10", "9", "8", "<5")
    total = dict(zip(header, lines[-1]))
    assert total["Måned"] == "I alt" and total["Tilbud præsenteret"] == "36" and total["Overvejer"] == "<5"
    assert client.get("/dashboard/statistics.csv", query_string={**query, "separator": "|"}).status_code == 422
