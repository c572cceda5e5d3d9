"""Recurring cross-sector meetings: the rule, holidays, one occurrence moved or cancelled, the series changed."""
from __future__ import annotations

import email
import email.policy
from datetime import UTC, date, datetime, time, timedelta

import pytest
import recurring_ical_events
import vobject
from icalendar import Calendar
from sqlmodel import select

from scheduler.errors import InvalidInput, NotFound
from scheduler.models import HolidayPolicy, OutboxMessage, Role, SeriesFrequency
from scheduler.services import series as series_service
from scheduler.services.series import SeriesInput

CPH = "Europe/Copenhagen"
PEOPLE = [("hospital", "Hanne Holbæk", "leder@holbaek-sygehus.example"),
          ("municipality", "Ole Odsherred", "ole@odsherred.example")]


def local(day: date, hour: int = 10, minute: int = 0, zone=None) -> datetime:  # type: ignore[no-untyped-def]
    from zoneinfo import ZoneInfo

    return datetime.combine(day, time(hour, minute), tzinfo=zone or ZoneInfo(CPH)).astimezone(UTC)


def make_input(**changes) -> SeriesInput:  # type: ignore[no-untyped-def]
    values = dict(title="Samarbejdsmøde Holbæk Sygehus og Odsherred Kommune", municipality_code="0306",
                  first_date=date(2026, 12, 4), start_time=time(10), duration_minutes=60,
                  frequency=SeriesFrequency.weekly, holiday_policy=HolidayPolicy.skip, count=6,
                  participants=PEOPLE)
    values.update(changes)
    return SeriesInput(**values)


@pytest.fixture
def coordinator(factory):
    return factory.user(role=Role.coordinator, municipality_code="0306")


def outbox(session) -> list[email.message.Message]:  # type: ignore[no-untyped-def]
    session.flush()
    return [email.message_from_string(row.message, policy=email.policy.default) for row in
            session.exec(select(OutboxMessage).order_by(OutboxMessage.id))]


def calendar_of(message) -> Calendar:  # type: ignore[no-untyped-def]
    for part in message.walk():
        if part.get_content_type() == "text/calendar":
            return Calendar.from_ical(part.get_payload(decode=True))
    raise AssertionError("no text/calendar part")


def expand(data: bytes, start: date, end: date) -> list[datetime]:
    events = recurring_ical_events.of(Calendar.from_ical(data)).between(start, end)
    return sorted(e.start.astimezone(UTC) for e in events)


def test_a_weekly_series_by_count_skips_public_holidays_and_counts_only_real_meetings(session, ctx, coordinator):
    series = series_service.create_series(session, ctx=ctx, user=coordinator, data=make_input())
    session.commit()
    # Fridays from 4 December: Christmas Day and New Year's Day are public holidays in Denmark.
    expected = [local(date(2026, 12, d)) for d in (4, 11, 18)] + [local(date(2027, 1, d)) for d in (8, 15, 22)]
    assert [o.start_at for o in series_service.occurrences(session, series, ctx=ctx)] == expected
    assert series.until == date(2027, 1, 22)

    stored = ctx.calendars.read(series.uid)
    assert expand(stored, date(2026, 12, 1), date(2027, 3, 1)) == expected
    event = Calendar.from_ical(stored).walk("VEVENT")[0]
    rule = event["RRULE"]
    assert rule["FREQ"] == ["WEEKLY"] and rule["BYDAY"] == ["FR"]
    assert rule["UNTIL"][0] == local(date(2027, 1, 22))
    excluded = {d.dt.astimezone(UTC) for exdate in [event["EXDATE"]] for d in exdate.dts}
    assert excluded == {local(date(2026, 12, 25)), local(date(2027, 1, 1))}
    # A second parser reads the same rule.
    parsed = vobject.readOne(stored.decode())
    assert [d.astimezone(UTC) for d in parsed.vevent.getrruleset() if d.year == 2027] == expected[3:]

    messages = outbox(session)
    assert sorted(str(m["To"]) for m in messages) == sorted(f"{name} <{address}>" for _s, name, address in PEOPLE)
    request = calendar_of(messages[0])
    assert request["METHOD"] == "REQUEST" and "RRULE" in request.walk("VEVENT")[0]
    assert series.video_join_url and series.video_join_url in messages[0].as_string()


def test_the_flag_policy_keeps_the_holiday_meeting_and_points_it_out(session, ctx, coordinator):
    series = series_service.create_series(session, ctx=ctx, user=coordinator,
                                          data=make_input(holiday_policy=HolidayPolicy.flag, count=4))
    session.commit()
    found = series_service.occurrences(session, series, ctx=ctx)
    assert [o.start_at.astimezone(UTC).date() for o in found] == [date(2026, 12, d) for d in (4, 11, 18, 25)]
    assert [o.holiday for o in found] == [False, False, False, True]
    assert "EXDATE" not in Calendar.from_ical(ctx.calendars.read(series.uid)).walk("VEVENT")[0]


def test_moving_one_occurrence_sends_a_request_for_that_occurrence_only(session, ctx, coordinator):
    series = series_service.create_series(session, ctx=ctx, user=coordinator, data=make_input())
    session.commit()
    sent_before = len(outbox(session))
    original = local(date(2026, 12, 11))
    series_service.move_occurrence(session, ctx=ctx, series=series, recurrence_id=original,
                                   start_at=local(date(2026, 12, 10), 13))
    session.commit()

    messages = outbox(session)[sent_before:]
    assert len(messages) == 2
    request = calendar_of(messages[0])
    assert request["METHOD"] == "REQUEST"
    [event] = request.walk("VEVENT")
    assert event["UID"] == series.uid and "RRULE" not in event
    assert event["RECURRENCE-ID"].dt.astimezone(UTC) == original
    assert event.start.astimezone(UTC) == local(date(2026, 12, 10), 13)
    assert event["SEQUENCE"] > 0

    stored = ctx.calendars.read(series.uid)
    starts = expand(stored, date(2026, 12, 1), date(2027, 2, 1))
    assert local(date(2026, 12, 10), 13) in starts and original not in starts
    assert len(starts) == 6
    parsed = vobject.readOne(stored.decode())
    assert len(parsed.vevent_list) == 2 and parsed.vevent_list[1].recurrence_id.value.astimezone(UTC) == original


def test_cancelling_one_occurrence_sends_a_cancel_with_its_recurrence_id(session, ctx, coordinator):
    series = series_service.create_series(session, ctx=ctx, user=coordinator, data=make_input())
    session.commit()
    sent_before = len(outbox(session))
    victim = local(date(2026, 12, 18))
    series_service.cancel_occurrence(session, ctx=ctx, series=series, recurrence_id=victim)
    session.commit()

    messages = outbox(session)[sent_before:]
    cancel = calendar_of(messages[0])
    assert cancel["METHOD"] == "CANCEL"
    [event] = cancel.walk("VEVENT")
    assert event["RECURRENCE-ID"].dt.astimezone(UTC) == victim and event["STATUS"] == "CANCELLED"
    assert 'method="CANCEL"' in messages[0].as_string() or "method=CANCEL" in messages[0].as_string()
    starts = expand(ctx.calendars.read(series.uid), date(2026, 12, 1), date(2027, 2, 1))
    assert victim not in starts and len(starts) == 5
    with pytest.raises(Exception, match="allerede"):
        series_service.cancel_occurrence(session, ctx=ctx, series=series, recurrence_id=victim)


def test_changing_a_series_that_has_begun_ends_it_and_continues_with_a_new_one(session, ctx, coordinator):
    series = series_service.create_series(session, ctx=ctx, user=coordinator, data=make_input(count=8))
    session.commit()
    later = type(ctx)(**{**ctx.__dict__, "now": local(date(2026, 12, 14), 8)})  # two meetings were held
    new_people = PEOPLE[:1] + [("municipality", "Nina Ny", "nina@odsherred.example")]
    continued = series_service.change_series(
        session, ctx=later, user=coordinator, series=series,
        data=make_input(first_date=date(2026, 12, 17), start_time=time(14), count=3,
                        frequency=SeriesFrequency.biweekly, participants=new_people))
    session.commit()

    assert continued.id != series.id and continued.continued_from_id == series.id
    assert continued.video_join_url == series.video_join_url
    old = expand(ctx.calendars.read(series.uid), date(2026, 12, 1), date(2027, 6, 1))
    assert old == [local(date(2026, 12, 4)), local(date(2026, 12, 11))]  # the past stays as it was held
    new = expand(ctx.calendars.read(continued.uid), date(2026, 12, 1), date(2027, 6, 1))
    assert new == [local(date(2026, 12, 17), 14), local(date(2026, 12, 31), 14), local(date(2027, 1, 14), 14)]

    to_ole = [m for m in outbox(session) if "ole@odsherred.example" in m["To"]]
    assert [calendar_of(m)["METHOD"] for m in to_ole] == ["REQUEST", "REQUEST", "CANCEL"]
    to_nina = [m for m in outbox(session) if "nina@" in m["To"]]
    assert len(to_nina) == 1 and calendar_of(to_nina[0]).walk("VEVENT")[0]["UID"] == continued.uid


def test_changing_a_series_not_begun_updates_it_in_place(session, ctx, coordinator):
    series = series_service.create_series(session, ctx=ctx, user=coordinator, data=make_input())
    session.commit()
    changed = series_service.change_series(session, ctx=ctx, user=coordinator, series=series,
                                           data=make_input(start_time=time(9, 30), count=2))
    session.commit()
    assert changed.id == series.id and changed.sequence == 1
    assert expand(ctx.calendars.read(series.uid), date(2026, 12, 1), date(2027, 6, 1)) == [
        local(date(2026, 12, 4), 9, 30), local(date(2026, 12, 11), 9, 30)]
    assert calendar_of(outbox(session)[-1]).walk("VEVENT")[0]["SEQUENCE"] == 1


def test_cancelling_the_whole_series_removes_it_from_calendars(session, ctx, coordinator):
    series = series_service.create_series(session, ctx=ctx, user=coordinator, data=make_input())
    session.commit()
    series_service.cancel_series(session, ctx=ctx, series=series)
    session.commit()
    cancel = calendar_of(outbox(session)[-1])
    assert cancel["METHOD"] == "CANCEL" and "RECURRENCE-ID" not in cancel.walk("VEVENT")[0]
    assert cancel.walk("VEVENT")[0]["STATUS"] == "CANCELLED"
    assert ctx.calendars.read(series.uid) is None


def test_monthly_on_the_second_tuesday_keeps_local_time_over_the_dst_change(session, ctx, coordinator):
    series = series_service.create_series(session, ctx=ctx, user=coordinator, data=make_input(
        first_date=date(2027, 2, 9), frequency=SeriesFrequency.monthly, count=3))
    session.commit()
    starts = [o.start_at for o in series_service.occurrences(session, series, ctx=ctx)]
    assert starts == [local(date(2027, 2, 9)), local(date(2027, 3, 9)), local(date(2027, 4, 13))]
    assert starts[2].hour == 8 and starts[0].hour == 9  # 10.00 local in summer and winter time
    rule = Calendar.from_ical(ctx.calendars.read(series.uid)).walk("VEVENT")[0]["RRULE"]
    assert rule["FREQ"] == ["MONTHLY"] and rule["BYDAY"] == ["2TU"]
    assert expand(ctx.calendars.read(series.uid), date(2027, 1, 1), date(2027, 12, 31)) == starts


@pytest.mark.parametrize(("changes", "field"), [
    ({"title": " "}, "title"),
    ({"title": "Møde\nATTENDEE:mailto:x@y"}, "title"),
    ({"count": None}, "until"),
    ({"count": 0}, "count"),
    ({"count": None, "until": date(2026, 12, 1)}, "until"),
    ({"first_date": date(2026, 11, 20)}, "first_date"),
    ({"participants": []}, "participants_hospital"),
    ({"duration_minutes": 5}, "duration_minutes"),
    ({"municipality_code": "9999"}, "municipality"),
])
def test_bad_series_input_names_the_field(session, ctx, coordinator, changes, field):
    with pytest.raises(InvalidInput) as error:
        series_service.create_series(session, ctx=ctx, user=coordinator, data=make_input(**changes))
    assert list(error.value.fields) == [field]


def test_who_sees_a_series(session, ctx, coordinator, factory):
    series = series_service.create_series(session, ctx=ctx, user=coordinator, data=make_input())
    taking_part = factory.user(role=Role.advisor, municipality_code="0306", email="ole@odsherred.example")
    outsider = factory.user(role=Role.advisor, municipality_code="0306")
    other_coordinator = factory.user(role=Role.coordinator, municipality_code="0540")
    session.commit()
    assert series_service.series_for(session, user=taking_part, series_id=series.id).id == series.id
    for user in (outsider, other_coordinator):
        with pytest.raises(NotFound):
            series_service.series_for(session, user=user, series_id=series.id)
    with pytest.raises(NotFound):
        series_service.create_series(session, ctx=ctx, user=taking_part, data=make_input())


def test_cancelling_a_series_that_has_begun_keeps_the_held_meetings(session, ctx, coordinator):
    series = series_service.create_series(session, ctx=ctx, user=coordinator, data=make_input())
    session.commit()
    later = type(ctx)(**{**ctx.__dict__, "now": local(date(2026, 12, 14), 8)})
    series_service.cancel_series(session, ctx=later, series=series)
    session.commit()
    last = outbox(session)[-1]
    assert "kommende møder" in str(last["Subject"]) and calendar_of(last)["METHOD"] == "REQUEST"
    assert expand(ctx.calendars.read(series.uid), date(2026, 12, 1), date(2027, 6, 1)) == [
        local(date(2026, 12, 4)), local(date(2026, 12, 11))]
    assert series.cancelled_at == later.now
