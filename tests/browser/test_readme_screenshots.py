"""The README's screenshots, retaken only on request (so CI never rewrites them):
SCHEDULER_SCREENSHOTS=docs/screenshots .venv/bin/pytest tests/browser/test_readme_screenshots.py"""
import os
import re
from pathlib import Path

import pytest

from .conftest import log_in
from .tour import fill_booking_form

FOLDER = os.environ.get("SCHEDULER_SCREENSHOTS")
SIZE = {"width": 1280, "height": 800}
MAX_BYTES = 300_000

pytestmark = pytest.mark.skipif(not FOLDER, reason="set SCHEDULER_SCREENSHOTS=docs/screenshots to retake them")


def test_readme_screenshots(new_page, live_server):
    base, _ = live_server
    folder = Path(FOLDER)
    folder.mkdir(parents=True, exist_ok=True)

    secretary = new_page(viewport=SIZE)
    log_in(secretary, base, "sekretaer.sonderborg@demo.example")
    secretary.goto(f"{base}/meetings/new")
    fill_booking_form(secretary)
    secretary.locator("button[value=search]").click()
    secretary.locator("input[name=slot]").nth(3).check()
    secretary.locator("#f-municipality").evaluate("e => e.closest('fieldset').scrollIntoView()")
    secretary.screenshot(path=str(folder / "booking.png"))
    secretary.locator("button[value=book]").click()
    secretary.wait_for_url(re.compile(r".*/meetings/\d+$"))
    secretary.screenshot(path=str(folder / "meeting.png"))

    coordinator = new_page(viewport=SIZE)
    log_in(coordinator, base, "koordinator.national@demo.example")
    coordinator.goto(f"{base}/dashboard?group_by=municipality")
    coordinator.locator("#totals-h").evaluate("e => e.scrollIntoView()")
    coordinator.screenshot(path=str(folder / "dashboard.png"))

    sizes = {name: (folder / name).stat().st_size for name in ("booking.png", "meeting.png", "dashboard.png")}
    assert all(0 < size < MAX_BYTES for size in sizes.values()), sizes
