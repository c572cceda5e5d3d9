"""Journey 4 in a real browser: a coordinator opens the dashboard, sees the figures, and downloads
the CSV and XLSX exports, which the test opens and checks."""
import csv
import io

from openpyxl import load_workbook

from .conftest import ARTIFACTS, log_in

COLUMNS = {"meeting_date", "municipality_code", "offer_code", "offer_category", "response", "patient_key"}


def test_coordinator_sees_figures_and_downloads_the_exports(page, live_app, tmp_path):
    log_in(page, live_app, "koordinator@demo.example")  # region Syddanmark: Sønderborg's demo history
    page.get_by_role("link", name="Statistik og udtræk").click()
    totals = page.locator("table").first.inner_text()
    assert "Bookede møder" in totals and any(ch.isdigit() for ch in totals)
    page.screenshot(path=str(ARTIFACTS / "journey4-dashboard.png"), full_page=True)

    with page.expect_download() as download_info:
        page.get_by_role("button", name="Hent tilbudslog (CSV)").click()
    path = tmp_path / "uptake.csv"
    download_info.value.save_as(path)
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")  # BOM, so Danish Excel reads UTF-8
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    assert rows and COLUMNS <= set(rows[0])
    assert {r["municipality_code"] for r in rows} == {"0540"}
    assert not any("Demoborger" in value for r in rows for value in r.values())

    with page.expect_download() as download_info:
        page.get_by_role("button", name="Hent tilbudslog (Excel)").click()
    xlsx = tmp_path / "uptake.xlsx"
    download_info.value.save_as(xlsx)
    workbook = load_workbook(xlsx, read_only=True)
    try:
        table = list(workbook.worksheets[0].iter_rows(values_only=True))
    finally:
        workbook.close()
    assert COLUMNS <= set(table[0]) and len(table) - 1 == len(rows)
