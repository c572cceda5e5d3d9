"""The API tests' world: a ward with its secretary and token, an advisor in Sønderborg, a booking body."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from scheduler.models import User, Ward

TUESDAY_10 = "2026-11-24T10:00:00+01:00"  # inside default working hours, after the minimum notice
CPR = "010150-1234"


@dataclass
class World:
    ward: Ward
    secretary: User
    advisor: User
    headers: dict[str, str]  # the secretary's bearer token


def meeting_body(**overrides: object) -> dict[str, object]:
    """A valid POST /api/v1/meetings body for ward ONK in Sønderborg, with top-level overrides."""
    body: dict[str, object] = {
        "ward": "ONK", "municipality": "0540", "start": TUESDAY_10, "duration_minutes": 45,
        "patient": {"name": "Karl Jensen", "cpr": CPR, "email": "karl@example.net", "phone": "+45 12 34 56 78"},
        "relatives": [{"name": "Grete Jensen", "email": "grete@example.net"}],
        "staff": [{"name": "Sygeplejerske Sofie", "email": "sofie@hospital.example"}],
    }
    body.update(overrides)
    return body


@pytest.fixture
def world(session, factory, api_token) -> World:
    ward = factory.ward(code="ONK")
    secretary = factory.secretary(ward)
    advisor = factory.advisor("0540", name="Mette Rådgiver")
    session.commit()
    return World(ward=ward, secretary=secretary, advisor=advisor, headers=api_token(secretary))


@pytest.fixture
def book(client, world):
    """POST a meeting as the world's secretary; returns the response."""

    def post(**overrides: object):
        return client.post("/api/v1/meetings", json=meeting_body(**overrides), headers=world.headers)

    return post


@pytest.fixture
def booked(book) -> dict[str, object]:
    """A meeting booked on Tuesday at 10:00 (its JSON)."""
    response = book()
    assert response.status_code == 201, response.text
    return response.json
