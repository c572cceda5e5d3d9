"""Fixtures and helpers for the secretary's pages: a ward with its secretary, an advisor, form booking."""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlmodel import Session, func, select
from werkzeug.security import generate_password_hash

from scheduler.db import new_session
from scheduler.models import Meeting, Participant, User, Ward

from .html import parse, radios

PASSWORD = "correct horse"
SEARCH = {"municipality": "0540", "from": "2026-11-23", "to": "2026-11-27", "duration_minutes": "45"}
# The first free start: Monday 23 November 11:00 local (now 09:00 local + 2 h notice).
FIRST_SLOT_UTC = "2026-11-23T10:00:00+00:00"


@dataclass
class World:
    ward: Ward
    secretary: User
    advisor: User


@pytest.fixture
def world(session, factory) -> World:
    ward = factory.ward(code="ONK", name="Onkologisk afdeling")
    secretary = factory.secretary(ward)
    advisor = factory.advisor("0540", name="Mette Rådgiver")
    session.commit()
    return World(ward, secretary, advisor)


@pytest.fixture
def client_for(app, session) -> Callable[[User], Any]:
    """A new test client logged in as `user` through the login form."""

    def sign_in(user: User):
        user.password_hash = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
        session.add(user)
        session.commit()
        client = app.test_client()
        response = client.post("/login", data={"email": user.email, "password": PASSWORD})
        assert response.status_code == 302, response.text
        return client

    return sign_in


@pytest.fixture
def secretary_client(client_for, world):
    return client_for(world.secretary)


@pytest.fixture
def read(engine) -> Callable[[Callable[[Session], Any]], Any]:
    """Run a query in its own short session: the test never holds a lock while the app writes."""

    def run(query: Callable[[Session], Any]) -> Any:
        with new_session(engine) as session:  # closing ends the transaction and keeps loaded values
            return query(session)

    return run


def count(read, model, *where) -> int:
    return read(lambda s: s.exec(select(func.count()).select_from(model).where(*where)).one())


def meeting_form(ward_code: str, **overrides: str) -> dict[str, str]:
    """The new-meeting form as a browser sends it (dotted names), with `overrides` applied."""
    form = {
        "ward": ward_code, **SEARCH, "language": "da",
        "patient.name": "Karl Jensen", "patient.cpr": "010150-1234", "patient.email": "karl@example.net",
        "patient.phone": "+45 20 30 40 50",
        "relatives.0.name": "Grete Jensen", "relatives.0.email": "grete@example.net",
        "staff.0.name": "Sygeplejerske Sofie", "staff.0.email": "sofie@hospital.example",
        "staff.1.name": "Læge Lars", "staff.1.email": "lars@hospital.example",
    }
    form.update(overrides)
    return {k: v for k, v in form.items() if v is not None}


def first_slot(client, form: dict[str, str]) -> str:
    response = client.post("/meetings/new", data={**form, "action": "search"})
    assert response.status_code == 200, response.text
    values = [r.attrs["value"] for r in radios(parse(response.text))]
    assert values, "the search found no free slot"
    return values[0]


def book_via_form(client, ward: Ward, **overrides: str):
    """Search, pick the first free slot unless `slot` is given, and press "book"; the response."""
    form = meeting_form(ward.code, **overrides)
    form.setdefault("slot", first_slot(client, form))
    return client.post("/meetings/new", data={**form, "action": "book"})


def booked_id(response) -> int:
    assert response.status_code == 302, response.text
    match = re.fullmatch(r"/meetings/(\d+)", response.location)
    assert match, response.location
    return int(match.group(1))


def get_meeting(read, meeting_id: int) -> Meeting:
    return read(lambda s: s.get(Meeting, meeting_id))


def participants(read, meeting_id: int) -> list[Participant]:
    return read(lambda s: list(s.exec(select(Participant).where(Participant.meeting_id == meeting_id)
                                      .order_by(Participant.id))))
