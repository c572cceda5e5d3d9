"""Property-based fuzzing of the JSON API from its own OpenAPI document (Schemathesis, through WSGI):
valid and invalid requests to every documented operation, as callers of every role. No answer is a 5xx,
none shows a stack trace or a database driver's words, and every 4xx is a JSON error with a reason
(and, for invalid input, the fields at fault). Seeded and bounded, on SQLite and PostgreSQL."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from scheduler.models import MeetingOutcome, OfferResponse, Role
from scheduler.schemas import MeetingCreate, OfferIn, parse_input
from scheduler.services import booking, recording
from scheduler.services import offers as catalogue

EXAMPLES_PER_OPERATION = 12
LEAKS = ("traceback", 'file "', "sqlalchemy", "psycopg", "sqlite3", "pydantic_core", "werkzeug")
BINARY_OK = ("text/calendar", "text/csv", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


@pytest.fixture
def fuzz_tokens(session, factory, ctx, now, api_token):  # type: ignore[no-untyped-def]
    """Callers of every role, and a few meetings (upcoming and held, with an offer) for the ids to hit."""
    ward = factory.ward(code="ONK")
    secretary = factory.secretary(ward)
    advisor = factory.advisor("0540")
    coordinator = factory.user(role=Role.coordinator)
    admin = factory.user(role=Role.admin)
    session.commit()
    catalogue.create_offer(session, municipality_code="0540", data=OfferIn(code="KOST", name="Kostvejledning",
                                                                           category="kost_vaegt"))
    ids = []
    for start, when in (("2026-11-25T10:00:00+01:00", ctx),
                        ("2026-11-18T10:00:00+01:00", replace(ctx, now=now - timedelta(days=7)))):
        meeting = booking.book_meeting(session, ctx=when, data=parse_input(MeetingCreate, {
            "ward": "ONK", "municipality": "0540", "start": start, "patient": {"name": "Karl Jensen",
                                                                               "cpr": "010150-1234"},
            "staff": [{"name": "Sofie", "email": f"sofie{start[8:10]}@hospital.example"}]}), booked_by=secretary)
        session.commit()
        ids.append(meeting.id)
    recording.record_meeting(session, ctx=ctx, meeting=meeting, outcome=MeetingOutcome.held,
                             offers=[("KOST", OfferResponse.accepted)], note=None, actor=advisor)
    session.commit()
    tokens = [api_token(user)["Authorization"] for user in (admin, secretary, advisor, coordinator)]
    return tokens, ids


def assert_handled(response, label: str) -> None:  # type: ignore[no-untyped-def]
    body = response.content.decode("utf-8", "replace")
    assert response.status_code < 500, f"{label}: {response.status_code} {body[:300]}"
    lowered = body.lower()
    assert not [word for word in LEAKS if word in lowered], f"{label}: {body[:300]}"
    content_type = (response.headers.get("content-type") or [""])[0]
    if response.status_code < 400 and content_type.startswith(BINARY_OK):
        return
    media_type = content_type.split(";")[0].strip()
    assert media_type == "application/json" or media_type.endswith("+json"), f"{label}: {content_type}"
    if response.status_code >= 400:
        error = json.loads(body)
        assert isinstance(error.get("error"), str) and error["error"].strip(), f"{label}: {body[:300]}"
        assert isinstance(error.get("fields"), dict), f"{label}: {body[:300]}"
        assert all(isinstance(k, str) and isinstance(v, str) and v for k, v in error["fields"].items())
        if response.status_code == 422:
            assert error["fields"], f"{label}: invalid input without the field: {body[:300]}"


def anchors(operation, mode: GenerationMode, meeting_ids: list[int]) -> list[dict]:  # type: ignore[type-arg]
    """Fixed parts that make valid requests reach real rows (a meeting, a municipality, an offer) rather than
    stop at 404; the rest of each request is generated. Negative requests are wholly generated."""
    anchored: list[dict] = [{}]  # type: ignore[type-arg]
    if not mode.is_positive:
        return anchored
    names = {parameter.name for parameter in operation.path_parameters}
    if "meeting_id" in names:
        anchored += [{"path_parameters": {"meeting_id": i, **({"code": "KOST"} if "code" in names else {})}}
                     for i in meeting_ids]
    elif "code" in names:
        anchored.append({"path_parameters": {"code": "0540"}})
    if operation.path == "/slots":
        anchored.append({"query": {"municipality": "0540", "from": "2026-11-24", "to": "2026-11-27"}})
    return anchored


def _has_input(operation) -> bool:  # type: ignore[no-untyped-def]
    return any(len(part) for part in (operation.path_parameters, operation.query, operation.body))


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_api_survives_generated_requests(app, fuzz_tokens, mode):
    tokens, meeting_ids = fuzz_tokens
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15, "the OpenAPI document lost its operations"
    for operation in operations:
        if mode == GenerationMode.NEGATIVE and not _has_input(operation):
            continue  # nothing to get wrong (e.g. GET /health)
        label = f"{operation.method.upper()} {operation.path} ({mode.value})"

        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck), print_blob=True)
        @given(case=st.one_of([operation.as_strategy(generation_mode=mode, **fixed)
                               for fixed in anchors(operation, mode, meeting_ids)]),
               token=st.sampled_from(tokens))
        def fuzz(case, token):  # type: ignore[no-untyped-def]
            assert_handled(case.call(headers={"Authorization": token}), label)

        fuzz()
