"""The series pages: create, see the meetings, move and cancel one, change and cancel the series."""
from __future__ import annotations

from datetime import date

from sqlmodel import select

from scheduler.models import MeetingSeries, OutboxMessage, Role, SeriesException

FORM = {"title": "Samarbejdsmøde Holbæk–Odsherred", "municipality": "0306", "first_date": "2026-12-04",
        "start_time": "10:00", "duration_minutes": "60", "frequency": "biweekly", "holiday_policy": "skip",
        "ends": "count", "count": "4",
        "participants_hospital": "Hanne Holbæk <hanne@holbaek.example>\n",
        "participants_municipality": "Ole Odsherred, ole@odsherred.example"}


def create(client, **changes):  # type: ignore[no-untyped-def]
    return client.post("/series/new", data={**FORM, **changes})


def test_a_coordinator_creates_a_series_and_moves_and_cancels_one_meeting(session, factory, login):
    coordinator = factory.user(role=Role.coordinator, municipality_code="0306")
    client = login(coordinator, session)
    assert client.get("/series/new").status_code == 200

    response = create(client)
    assert response.status_code == 302, response.text
    series = session.exec(select(MeetingSeries)).one()
    series_id = series.id
    session.commit()
    page = client.get(response.location).text
    assert "Samarbejdsmøde Holbæk–Odsherred" in page and "ole@odsherred.example" in page
    assert page.count("Planlagt") == 4
    # Fridays every other week from 4 December; 1 January is a holiday, so the 4th meeting is 29 January.
    assert "fre. 15/1" in page and "fre. 29/1" in page and "fre. 1/1" not in page

    assert client.get("/series/%d/occurrences/20261218T090000Z/move" % series.id).status_code == 200
    moved = client.post("/series/%d/occurrences/20261218T090000Z/move" % series.id,
                        data={"date": "2026-12-17", "time": "13:00"})
    assert moved.status_code == 302
    cancelled = client.post("/series/%d/occurrences/20261204T090000Z/cancel" % series.id)
    assert cancelled.status_code == 302
    session.expire_all()
    exceptions = session.exec(select(SeriesException).order_by(SeriesException.recurrence_id)).all()
    assert [(e.cancelled, e.start_at is not None) for e in exceptions] == [(True, False), (False, True)]
    session.commit()
    page = client.get(f"/series/{series_id}").text
    assert "Aflyst" in page and "Flyttet fra" in page
    assert session.exec(select(OutboxMessage)).all()  # the invites and the two changes went to the outbox
    session.commit()
    ics = client.get(f"/series/{series_id}/calendar.ics")
    assert ics.mimetype == "text/calendar" and b"RRULE:FREQ=WEEKLY" in ics.data and b"RECURRENCE-ID" in ics.data


def test_bad_input_re_renders_the_form_with_the_error_next_to_the_field(session, factory, login):
    client = login(factory.user(role=Role.coordinator, municipality_code="0306"), session)
    response = create(client, participants_municipality="Ole uden adresse")
    assert response.status_code == 422
    assert 'id="f-participants_municipality-error"' in response.text and "Linje 1" in response.text
    assert "Ole uden adresse" in response.text  # nothing typed is lost
    response = create(client, first_date="2026-13-01")
    assert response.status_code == 422 and 'id="f-first_date-error"' in response.text
    response = create(client, frequency="daily")
    assert response.status_code == 422 and 'id="f-frequency-error"' in response.text
    assert session.exec(select(MeetingSeries)).all() == []


def test_participants_see_the_series_and_others_do_not(session, factory, login, app):
    coordinator = factory.user(role=Role.coordinator, municipality_code="0306")
    client = login(coordinator, session)
    create(client)
    series_id = session.exec(select(MeetingSeries)).one().id
    session.commit()
    client.post("/logout")

    ole = factory.user(role=Role.advisor, municipality_code="0306", email="ole@odsherred.example")
    client = login(ole, session)
    assert "Samarbejdsmøde" in client.get("/series/").text
    page = client.get(f"/series/{series_id}")
    assert page.status_code == 200 and "Aflys alle" not in page.text  # advisors take part, they do not organise
    assert client.post(f"/series/{series_id}/cancel").status_code == 403
    client.post("/logout")

    stranger = factory.user(role=Role.advisor, municipality_code="0306")
    client = login(stranger, session)
    assert client.get(f"/series/{series_id}").status_code == 404
    assert "Samarbejdsmøde" not in client.get("/series/").text
    assert client.get(f"/series/{series_id}/occurrences/bad/move").status_code in (403, 404)


def test_changing_and_cancelling_the_series_from_its_pages(session, factory, login):
    client = login(factory.user(role=Role.secretary, ward=factory.ward()), session)
    create(client)
    series = session.exec(select(MeetingSeries)).one()
    session.commit()
    form = client.get(f"/series/{series.id}/edit").text
    assert "hanne@holbaek.example" in form
    response = client.post(f"/series/{series.id}/edit", data={**FORM, "start_time": "11:00", "ends": "until",
                                                               "until": "2027-01-31"})
    assert response.status_code == 302
    session.expire_all()
    assert session.get(MeetingSeries, series.id).sequence == 1
    session.commit()
    assert client.post(f"/series/{series.id}/cancel").status_code == 302
    session.expire_all()
    assert session.get(MeetingSeries, series.id).cancelled_at is not None
    assert date(2026, 12, 4) <= session.get(MeetingSeries, series.id).until
