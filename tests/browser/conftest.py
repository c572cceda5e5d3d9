"""A real browser (Debian's chromium driven by Playwright) against the app served on 127.0.0.1."""
from __future__ import annotations

import os
import re
import shutil
import threading
from pathlib import Path

import pytest
from sqlmodel import SQLModel

from scheduler import create_app
from scheduler.config import load_config
from scheduler.db import make_engine, new_session
from scheduler.models import now_utc
from scheduler.services.demo import load_demo_data
from scheduler.services.demo_history import load_demo_history
from scheduler.video.jitsi import JitsiProvider

from ..conftest import TEST_CPR_KEY
from ..smtp_server import free_port

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="session")
def browser():
    if not shutil.which(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing (make test installs Debian's chromium)")
        pytest.skip(f"{CHROMIUM} is missing; `make test` installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--no-first-run", "--disable-sync"])
        yield browser
        browser.close()


@pytest.fixture
def live_server(tmp_path, smtp_server):
    """The app with demo data on a fresh SQLite file, served by waitress on a free port, e-mailing
    through the test's real SMTP server. Yields (base URL, the app)."""
    from waitress.server import create_server

    url = f"sqlite:///{tmp_path / 'browser.db'}"
    port = free_port()
    config = load_config(Path(__file__).parent / "missing.toml", environ={}, overrides={
        "database": {"url": url}, "calendars": {"dir": str(tmp_path / "calendars")},
        "app": {"secret_key": "browser-test-" + "x" * 32, "base_url": f"http://127.0.0.1:{port}"},
        "smtp": {"host": "127.0.0.1", "port": smtp_server.port},
        "security": {"cpr_keys": TEST_CPR_KEY}})
    engine = make_engine(url)
    SQLModel.metadata.create_all(engine)
    with new_session(engine) as session:
        load_demo_data(session)
        load_demo_history(session, now=now_utc(), zone=config.zone, followup_days=config.offers.followup_days)
        session.commit()
    engine.dispose()
    app = create_app(config, video=JitsiProvider("https://meet.example.org"))
    server = create_server(app, host="127.0.0.1", port=port, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}", app
    server.close()
    thread.join(timeout=5)
    app.extensions["scheduler"].engine.dispose()


@pytest.fixture
def live_app(live_server):
    return live_server[0]


def log_in(page, base: str, email: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Adgangskode").fill("demo1234")
    page.get_by_role("button", name="Log ind").click()


@pytest.fixture
def new_page(browser, request):
    """Pages in their own browser contexts (one per person), screenshotted at the end."""
    contexts = []

    def make(**options):
        context = browser.new_context(**{"viewport": {"width": 1100, "height": 900}, "locale": "da-DK", **options})
        contexts.append(context)
        return context.new_page()

    yield make
    ARTIFACTS.mkdir(exist_ok=True)
    for i, context in enumerate(contexts):
        for page in context.pages:
            page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-{i}-last.png"), full_page=True)
        context.close()


@pytest.fixture
def page(new_page):
    return new_page()


def book_in_browser(page, base: str, *, patient_email: str | None = None) -> str:
    """The secretary's booking through the form and the slot picker (first free time); returns the meeting URL."""
    page.goto(f"{base}/meetings/new")
    page.locator("#f-patient-name").fill("Karl Jensen")
    if patient_email:
        page.locator("#f-patient-email").fill(patient_email)
    page.locator("#f-staff-0-name").fill("Sofie Sygeplejerske")
    page.locator("#f-staff-0-email").fill("sofie@hospital.example")
    page.locator("#f-municipality").select_option("0540")
    page.get_by_role("button", name="Find ledige tider").click()
    page.locator("input[name=slot]").first.check()
    page.get_by_role("button", name="Book mødet").click()
    page.wait_for_url(re.compile(r".*/meetings/\d+$"))
    return page.url
