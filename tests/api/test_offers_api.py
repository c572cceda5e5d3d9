"""API: a municipality's offers, and recording outcome, offers and uptake; answers match the OpenAPI
document; 422 names the field, 404 for meetings the caller cannot see, 403 for roles that may not record."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from scheduler.models import Role
from scheduler.schemas import OfferIn
from scheduler.services import offers as catalogue

from .test_openapi import conforms, document  # noqa: F401  (fixtures)

API = "/api/v1"
FRIDAY_10 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@pytest.fixture
def meeting(session, factory, world):
    for code, category, extra in (("genoptraening", "genoptraening", {}), ("rygestop", "rygestop", {}),
                                  ("gaahold", "kraeftrehabilitering", {"active_to": date(2025, 12, 31)})):
        catalogue.create_offer(session, municipality_code="0540", data=OfferIn(
            code=code, name=code.capitalize(), category=category, contact="Sundhedscenter, tlf. 00 54 00 01", **extra))
    catalogue.create_offer(session, municipality_code="0306",
                           data=OfferIn(code="lysningen", name="Lysningen", category="palliation"))
    meeting = factory.meeting(world.advisor, FRIDAY_10, ward=world.ward)
    session.commit()
    return meeting


@pytest.fixture
def advisor_headers(api_token, world):
    return api_token(world.advisor)


def test_municipality_offers(client, world, meeting, conforms):  # noqa: F811
    path = "/municipalities/{code}/offers"
    response = client.get(f"{API}/municipalities/0540/offers", headers=world.headers)
    conforms("get", path, response, 200)
    assert response.json["on"] == "2026-11-23"
    assert [o["code"] for o in response.json["offers"]] == ["genoptraening", "rygestop"]
    assert response.json["offers"][0]["contact"] == "Sundhedscenter, tlf. 00 54 00 01"
    everything = client.get(f"{API}/municipalities/0540/offers?all=true", headers=world.headers)
    conforms("get", path, everything, 200)
    assert [o["code"] for o in everything.json["offers"]] == ["genoptraening", "gaahold", "rygestop"]
    assert everything.json["offers"][1]["active_to"] == "2025-12-31"
    back_then = client.get(f"{API}/municipalities/0540/offers?on=2025-06-01", headers=world.headers)
    assert "gaahold" in [o["code"] for o in back_then.json["offers"]]
    conforms("get", path, client.get(f"{API}/municipalities/0411/offers", headers=world.headers), 404)
    conforms("get", path, client.get(f"{API}/municipalities/x/offers", headers=world.headers), 404)
    bad = client.get(f"{API}/municipalities/0540/offers?on=1.12.2026", headers=world.headers)
    conforms("get", path, bad, 422)
    assert set(bad.json["fields"]) == {"on"}
    conforms("get", path, client.get(f"{API}/municipalities/0540/offers"), 401)


def test_record_outcome_offers_and_uptake(client, world, meeting, advisor_headers, conforms):  # noqa: F811
    url = f"{API}/meetings/{meeting.id}"
    held = client.put(f"{url}/outcome", json={"outcome": "held"}, headers=advisor_headers)
    conforms("put", "/meetings/{meeting_id}/outcome", held, 200)
    assert (held.json["status"], held.json["outcome"], held.json["offers"]) == ("held", "held", [])

    body = {"offers": [{"code": "genoptraening", "response": "accepted"},
                       {"code": "rygestop", "response": "declined"}], "note": "Tolk: arabisk"}
    offers = client.put(f"{url}/offers", json=body, headers=advisor_headers)
    conforms("put", "/meetings/{meeting_id}/offers", offers, 200)
    assert [(o["code"], o["response"]) for o in offers.json["offers"]] == [("genoptraening", "accepted"),
                                                                         ("rygestop", "declined")]
    assert offers.json["has_note"] is True and "arabisk" not in offers.get_data(as_text=True)
    kept = client.put(f"{url}/offers", json={"offers": [{"code": "genoptraening", "response": "referred"}]},
                      headers=advisor_headers)
    assert kept.json["has_note"] is True and len(kept.json["offers"]) == 1  # no "note": the note stays
    cleared = client.put(f"{url}/offers", json={"offers": kept.json["offers"][:0], "note": None},
                         headers=advisor_headers)
    assert (cleared.json["has_note"], cleared.json["offers"]) == (False, [])
    client.put(f"{url}/offers", json={"offers": [{"code": "genoptraening", "response": "accepted"}]},
               headers=advisor_headers)

    uptake = client.put(f"{url}/offers/genoptraening/uptake", json={"status": "started", "started_on": "2026-11-23"},
                        headers=advisor_headers)
    conforms("put", "/meetings/{meeting_id}/offers/{code}/uptake", uptake, 200)
    assert uptake.json["offers"][0] | {"name": None} == {
        "code": "genoptraening", "name": None, "category": "genoptraening", "response": "accepted",
        "uptake": "started", "started_on": "2026-11-23"}


def test_errors_name_the_field(client, world, meeting, advisor_headers, conforms):  # noqa: F811
    url = f"{API}/meetings/{meeting.id}"
    outcome_path, offers_path = "/meetings/{meeting_id}/outcome", "/meetings/{meeting_id}/offers"
    uptake_path = "/meetings/{meeting_id}/offers/{code}/uptake"

    bad = client.put(f"{url}/outcome", json={"outcome": "went-well"}, headers=advisor_headers)
    conforms("put", outcome_path, bad, 422)
    assert set(bad.json["fields"]) == {"outcome"}
    early = client.put(f"{url}/offers", json={"offers": []}, headers=advisor_headers)
    conforms("put", offers_path, early, 422)
    assert set(early.json["fields"]) == {"outcome"}
    client.put(f"{url}/outcome", json={"outcome": "held"}, headers=advisor_headers)
    conforms("put", outcome_path, client.put(f"{url}/outcome", json={"outcome": "cancelled_late"},
                                             headers=advisor_headers), 409)

    elsewhere = client.put(f"{url}/offers", headers=advisor_headers, json={"offers": [
        {"code": "genoptraening", "response": "accepted"}, {"code": "lysningen", "response": "accepted"},
        {"code": "gaahold", "response": "declined"}]})
    conforms("put", offers_path, elsewhere, 422)
    assert set(elsewhere.json["fields"]) == {"offers.1.code", "offers.2.code"}
    shape = client.put(f"{url}/offers", json={"offers": [{"code": "rygestop"}], "colour": 1}, headers=advisor_headers)
    conforms("put", offers_path, shape, 422)
    assert set(shape.json["fields"]) == {"offers.0.response", "colour"}

    client.put(f"{url}/offers", json={"offers": [{"code": "rygestop", "response": "declined"},
                                                 {"code": "genoptraening", "response": "accepted"}]},
               headers=advisor_headers)
    for code, body, field in (("genoptraening", {"status": "started"}, "started_on"),
                              ("genoptraening", {"status": "started", "started_on": "2026-11-19"}, "started_on"),
                              ("rygestop", {"status": "not_started"}, "status"),
                              ("genoptraening", {"status": "maybe"}, "status")):
        response = client.put(f"{url}/offers/{code}/uptake", json=body, headers=advisor_headers)
        conforms("put", uptake_path, response, 422)
        assert set(response.json["fields"]) == {field}, body
    conforms("put", uptake_path, client.put(f"{url}/offers/lysningen/uptake", json={"status": "unknown"},
                                            headers=advisor_headers), 404)


def test_who_may_record(client, session, factory, world, meeting, api_token, conforms):  # noqa: F811
    url = f"{API}/meetings/{meeting.id}/outcome"
    path = "/meetings/{meeting_id}/outcome"
    body = {"outcome": "held"}
    conforms("put", path, client.put(url, json=body), 401)
    conforms("put", path, client.put(url, json=body, headers=world.headers), 403)  # the secretary sees it
    conforms("put", path, client.put(url, json={"outcome": "x"}, headers=world.headers), 403)
    for user in (factory.advisor("0306"), factory.user(role=Role.coordinator, municipality_code="0540")):
        conforms("put", path, client.put(url, json=body, headers=api_token(user)), 404)
    conforms("put", path, client.put(f"{API}/meetings/{meeting.id + 99}/outcome", json=body,
                                     headers=api_token(world.advisor)), 404)
    colleague = factory.advisor("0540")
    admin = factory.user(role=Role.admin)
    session.commit()
    assert client.put(url, json=body, headers=api_token(colleague)).status_code == 200
    corrected = client.put(url, json={"outcome": "no_show"}, headers=api_token(admin))
    assert corrected.status_code == 200 and corrected.json["status"] == "no_show"
    future = factory.meeting(world.advisor, datetime(2026, 11, 23, 8, 0, tzinfo=UTC) + timedelta(hours=5),
                             ward=world.ward)
    session.commit()
    early = client.put(f"{API}/meetings/{future.id}/outcome", json=body, headers=api_token(world.advisor))
    assert early.status_code == 422 and set(early.json["fields"]) == {"outcome"}
