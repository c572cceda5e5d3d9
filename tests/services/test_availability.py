"""Slot search and free-time check: working hours, holidays, absences, buffers, limits, DST."""
from __future__ import annotations

import random
import time as timer
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event

from scheduler.errors import Conflict, InvalidInput
from scheduler.models import Absence, AnswerStatus, MeetingStatus, Participant, ParticipantRole
from scheduler.services.availability import (_BusyBlocks, _day_grid, _floor_ms, _free_starts, _windows,
                                             busy_staff_emails, check_advisor_free, find_free_slots)
from scheduler.services.rules import BookingRules

CPH = ZoneInfo("Europe/Copenhagen")
MINUTES_45 = timedelta(minutes=45)


def local(*args: int) -> datetime:
    """Copenhagen wall-clock time as aware UTC."""
    return datetime(*args, tzinfo=CPH).astimezone(UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def rules(config):
    return BookingRules.from_config(config)


@pytest.fixture
def search(session, rules, now):
    def search(from_date: date, to_date: date | None = None, **kwargs):
        kwargs.setdefault("municipality_code", "0540")
        kwargs.setdefault("duration", MINUTES_45)
        kwargs.setdefault("now", now)
        return find_free_slots(session, rules=rules, from_date=from_date, to_date=to_date or from_date, **kwargs)

    return search


def starts(slots) -> list[datetime]:
    return [slot.start_at for slot in slots]


def test_default_hours_on_the_local_grid_from_min_notice_and_not_at_weekends(search, factory):
    advisor = factory.advisor()
    slots = search(date(2026, 11, 23), date(2026, 11, 30))

    by_day: dict[date, list] = {}
    for slot in slots:
        by_day.setdefault(slot.start_at.astimezone(CPH).date(), []).append(slot)
    assert sorted(by_day) == [date(2026, 11, d) for d in (23, 24, 25, 26, 27, 30)]
    # now is 09:00 local and the notice two hours, so Monday opens at 11:00; the day ends 15:30.
    assert by_day[date(2026, 11, 23)][0].start_at == local(2026, 11, 23, 11, 0)
    assert by_day[date(2026, 11, 23)][-1].end_at == local(2026, 11, 23, 15, 30)
    assert starts(by_day[date(2026, 11, 24)]) == [local(2026, 11, 24, 8, 0) + i * timedelta(minutes=15)
                                                   for i in range(28)]
    assert by_day[date(2026, 11, 27)][-1].end_at == local(2026, 11, 27, 14, 0)
    assert all(s.advisor_id == advisor.id and s.end_at - s.start_at == MINUTES_45 for s in slots)
    assert starts(slots) == sorted(starts(slots))


def test_own_working_hours_replace_the_default(search, factory):
    factory.advisor(hours={1: [(time(9, 0), time(10, 0)), (time(13, 0), time(14, 0))]})
    slots = search(date(2026, 11, 30), date(2026, 12, 1), duration=timedelta(minutes=30))
    # Monday has no row of hers, so it is a day off although the default has Monday hours.
    assert starts(slots) == [local(2026, 12, 1, h, m) for h in (9, 13) for m in (0, 15, 30)]


def test_public_holidays_have_no_slots(search, factory, now):
    factory.advisor(hours={day: [(time(9, 0), time(10, 0))] for day in range(7)})
    christmas = {s.start_at.astimezone(CPH).date() for s in search(date(2026, 12, 24), date(2026, 12, 28))}
    assert christmas == {date(2026, 12, 24), date(2026, 12, 27), date(2026, 12, 28)}
    # Store Bededag (1 May 2026) stopped being a holiday after 2023; Easter Monday still is one.
    spring = {s.start_at.astimezone(CPH).date()
              for s in search(date(2026, 4, 5), date(2026, 5, 1), now=utc(2026, 3, 1))}
    assert date(2026, 5, 1) in spring
    assert not spring & {date(2026, 4, 5), date(2026, 4, 6)}


def test_absences_block_only_the_time_they_cover(search, factory, session):
    advisor = factory.advisor()
    session.add(Absence(user_id=advisor.id, start_at=local(2026, 11, 24, 10, 0),
                        end_at=local(2026, 11, 24, 12, 0)))
    session.add(Absence(user_id=advisor.id, start_at=local(2026, 11, 25, 0, 0), end_at=local(2026, 11, 26, 0, 0)))
    slots = search(date(2026, 11, 24), date(2026, 11, 25))
    tuesday = starts(slots)
    assert local(2026, 11, 24, 9, 15) in tuesday and local(2026, 11, 24, 12, 0) in tuesday
    assert not [s for s in tuesday if local(2026, 11, 24, 9, 30) <= s <= local(2026, 11, 24, 11, 45)]
    assert all(s.start_at.astimezone(CPH).date() == date(2026, 11, 24) for s in slots)


def test_buffer_around_other_meetings_and_cancelled_ones_do_not_block(search, factory):
    advisor = factory.advisor()
    colleague = factory.advisor()
    factory.meeting(advisor, local(2026, 11, 24, 10, 0))
    factory.meeting(advisor, local(2026, 11, 24, 13, 0), status=MeetingStatus.cancelled)
    factory.meeting(colleague, local(2026, 11, 24, 8, 0))
    mine = starts(search(date(2026, 11, 24), advisor_id=advisor.id))
    # 45 minutes plus the 15-minute buffer on both sides of the 10:00-10:45 meeting.
    assert local(2026, 11, 24, 9, 0) in mine and local(2026, 11, 24, 11, 0) in mine
    assert local(2026, 11, 24, 9, 15) not in mine and local(2026, 11, 24, 10, 45) not in mine
    assert local(2026, 11, 24, 13, 0) in mine
    assert local(2026, 11, 24, 8, 0) in mine


def test_discharge_limits_the_end(search, factory):
    factory.advisor()
    slots = search(date(2026, 11, 24), date(2026, 11, 25), discharge_at=local(2026, 11, 24, 12, 0))
    assert slots[-1].end_at == local(2026, 11, 24, 12, 0)
    assert slots[-1].start_at == local(2026, 11, 24, 11, 15)


def test_exclude_meeting_id_frees_the_meeting_being_moved(search, factory, session, rules, now):
    advisor = factory.advisor()
    meeting = factory.meeting(advisor, local(2026, 11, 24, 10, 0))
    assert local(2026, 11, 24, 10, 15) not in starts(search(date(2026, 11, 24)))
    assert local(2026, 11, 24, 10, 15) in starts(search(date(2026, 11, 24), exclude_meeting_id=meeting.id))
    moved = {"start_at": local(2026, 11, 24, 10, 15), "end_at": local(2026, 11, 24, 11, 0)}
    with pytest.raises(Conflict):
        check_advisor_free(session, rules=rules, advisor=advisor, now=now, **moved)
    check_advisor_free(session, rules=rules, advisor=advisor, now=now, exclude_meeting_id=meeting.id, **moved)


def test_active_advisors_of_the_municipality_merged_earliest_first(search, factory, session):
    first = factory.advisor()
    early = factory.advisor(hours={1: [(time(7, 0), time(9, 0))]})
    retired = factory.advisor()
    retired.is_active = False
    session.add(retired)
    factory.advisor("0306")
    factory.secretary()
    session.flush()

    slots = search(date(2026, 11, 24))
    assert {s.advisor_id for s in slots} == {first.id, early.id}
    assert [(s.start_at, s.advisor_id) for s in slots] == sorted((s.start_at, s.advisor_id) for s in slots)
    assert [(s.start_at, s.advisor_id) for s in search(date(2026, 11, 24), limit=6)] == [
        (local(2026, 11, 24, 7, 0), early.id), (local(2026, 11, 24, 7, 15), early.id),
        (local(2026, 11, 24, 7, 30), early.id), (local(2026, 11, 24, 7, 45), early.id),
        (local(2026, 11, 24, 8, 0), first.id), (local(2026, 11, 24, 8, 0), early.id)]


def test_advisor_filter_and_an_advisor_of_another_municipality(search, factory):
    factory.advisor()
    early = factory.advisor(hours={1: [(time(7, 0), time(9, 0))]})
    elsewhere = factory.advisor("0306")
    slots = search(date(2026, 11, 24), advisor_id=early.id)
    assert {s.advisor_id for s in slots} == {early.id} and len(slots) == 6
    with pytest.raises(InvalidInput) as error:
        search(date(2026, 11, 24), advisor_id=elsewhere.id)
    assert set(error.value.fields) == {"advisor_id"}


def test_search_queries_do_not_grow_with_advisors_or_days(search, factory, engine):
    factory.advisor()
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    search(date(2026, 11, 24))
    one_day_one_advisor = len(statements)
    for _ in range(3):
        factory.meeting(factory.advisor(), local(2026, 11, 25, 10, 0))
    statements.clear()
    assert search(date(2026, 11, 24), date(2026, 12, 4))
    assert len(statements) == one_day_one_advisor


@pytest.mark.parametrize("kwargs, field", [
    ({"from_date": date(2026, 11, 24), "to_date": date(2026, 11, 23)}, "to"),
    ({"from_date": date(2026, 11, 24), "to_date": date(2026, 12, 25)}, "to"),  # 32 days
    ({"duration": timedelta(0)}, "duration"),
    ({"duration": timedelta(hours=8, minutes=1)}, "duration"),
    ({"municipality_code": "9999"}, "municipality"),
])
def test_invalid_input_names_the_field(search, factory, kwargs, field):
    factory.advisor()
    kwargs = {"from_date": date(2026, 11, 24), **kwargs}
    with pytest.raises(InvalidInput) as error:
        search(**kwargs)
    assert set(error.value.fields) == {field}


def test_31_days_and_8_hours_are_allowed(search, factory):
    factory.advisor(hours={1: [(time(8, 0), time(16, 0))]})
    slots = search(date(2026, 11, 24), date(2026, 12, 24), duration=timedelta(hours=8))
    assert [s.start_at for s in slots] == [local(2026, 11, 24, 8, 0) + timedelta(weeks=w) for w in range(5)]


def test_working_hours_are_local_time_after_each_dst_change(search, factory):
    factory.advisor()
    march = search(date(2026, 3, 30), now=utc(2026, 3, 1))
    october = search(date(2026, 10, 26), now=utc(2026, 3, 1))
    assert march[0].start_at == utc(2026, 3, 30, 6, 0) and march[-1].end_at == utc(2026, 3, 30, 13, 30)
    assert october[0].start_at == utc(2026, 10, 26, 7, 0) and october[-1].end_at == utc(2026, 10, 26, 14, 30)


def test_night_hours_on_dst_days_give_real_durations_and_existing_times(search, factory):
    night = factory.advisor(hours={6: [(time(1, 0), time(4, 0))]})
    in_gap = factory.advisor(hours={6: [(time(2, 30), time(4, 0))]})  # starts inside the skipped hour
    spring = search(date(2026, 3, 29), now=utc(2026, 3, 1))
    autumn = search(date(2026, 10, 25), now=utc(2026, 3, 1))

    for slot in spring + autumn:
        assert slot.end_at - slot.start_at == MINUTES_45
        wall = slot.start_at.astimezone(CPH)
        assert wall.minute % 15 == 0
        assert datetime.combine(wall.date(), wall.time(), CPH).replace(fold=wall.fold).astimezone(UTC) \
            == slot.start_at
    # 01:00 CET is 00:00 UTC; at 02:00 the clocks jump to 03:00 CEST (01:00 UTC); 04:00 CEST is 02:00 UTC.
    assert [(s.start_at.astimezone(CPH).strftime("%H:%M"), s.advisor_id) for s in spring] == [
        ("01:00", night.id), ("01:15", night.id), ("01:30", night.id), ("01:45", night.id),
        ("03:00", night.id), ("03:00", in_gap.id), ("03:15", night.id), ("03:15", in_gap.id)]
    # 01:00 CEST (23:00 UTC the day before) to 04:00 CET (03:00 UTC): four real hours, 02:00-03:00 twice.
    assert [s.start_at for s in autumn if s.advisor_id == night.id] == [
        utc(2026, 10, 24, 23, 0) + i * timedelta(minutes=15) for i in range(14)]
    assert [s.start_at for s in autumn if s.advisor_id == in_gap.id][0] == utc(2026, 10, 25, 0, 30)


def test_check_advisor_free_accepts_free_time_off_the_grid(session, factory, rules, now):
    advisor = factory.advisor()
    factory.meeting(advisor, local(2026, 11, 24, 11, 0))
    # Ends exactly where the buffer before the 11:00 meeting begins.
    check_advisor_free(session, rules=rules, advisor=advisor, now=now, start_at=local(2026, 11, 24, 9, 58),
                       end_at=local(2026, 11, 24, 10, 43), discharge_at=local(2026, 11, 24, 10, 43))


def test_check_advisor_free_says_what_is_wrong(session, factory, rules, now):
    advisor = factory.advisor()
    factory.meeting(advisor, local(2026, 11, 26, 10, 0))
    session.add(Absence(user_id=advisor.id, start_at=local(2026, 11, 25, 0, 0), end_at=local(2026, 11, 26, 0, 0)))
    session.flush()

    def error_of(start_at: datetime, **kwargs) -> InvalidInput | Conflict:
        with pytest.raises((InvalidInput, Conflict)) as error:
            check_advisor_free(session, rules=rules, advisor=advisor, now=now, start_at=start_at,
                               end_at=start_at + MINUTES_45, **kwargs)
        assert set(error.value.fields) == {"start"}
        return error.value

    invalid = [
        error_of(local(2026, 11, 23, 10, 30)),  # 09:30 UTC, sooner than two hours from now
        error_of(local(2026, 11, 24, 9, 0), discharge_at=local(2026, 11, 24, 9, 30)),
        error_of(local(2026, 12, 25, 10, 0)),  # Christmas Day, a Friday
        error_of(local(2026, 11, 24, 15, 0)),  # ends after 15:30
        error_of(local(2026, 11, 25, 10, 0)),  # absent all Wednesday
    ]
    assert all(type(e) is InvalidInput for e in invalid)
    assert len({e.message for e in invalid}) == len(invalid)
    conflict = error_of(local(2026, 11, 26, 10, 55))  # within the buffer after the meeting
    assert type(conflict) is Conflict
    assert type(error_of(local(2026, 11, 28, 10, 0))) is InvalidInput  # Saturday


def test_busy_staff_emails(session, factory):
    advisor = factory.advisor()
    meeting = factory.meeting(advisor, local(2026, 11, 24, 10, 0),
                              staff_emails=("Nurse@Example.org", "doc@example.org"))
    factory.meeting(advisor, local(2026, 11, 24, 10, 0), status=MeetingStatus.cancelled,
                    staff_emails=("cancelled@example.org",))
    session.add(Participant(meeting_id=meeting.id, role=ParticipantRole.patient, name="Patient",
                            email="patient@example.org", status=AnswerStatus.needs_action))
    session.flush()
    emails = ["doc@example.org", "NURSE@example.org", "cancelled@example.org", "patient@example.org",
              "free@example.org"]

    def busy(start_at: datetime, **kwargs) -> list[str]:
        return busy_staff_emails(session, emails=emails, start_at=start_at, end_at=start_at + MINUTES_45, **kwargs)

    assert busy(local(2026, 11, 24, 10, 30)) == ["doc@example.org", "nurse@example.org"]
    assert busy(local(2026, 11, 24, 10, 45)) == []  # back to back is fine for staff: no buffer
    assert busy(local(2026, 11, 24, 9, 15)) == []
    assert busy(local(2026, 11, 24, 10, 0), exclude_meeting_id=meeting.id) == []


def test_free_slot_sweep_is_fast_for_many_advisors_and_busy_intervals():
    """100 advisors x 500 busy intervals x 10 days, checked against a plain scan for one advisor."""
    rng = random.Random(7)
    rules_hours = {day: [(time(8, 0), time(15, 30))] for day in range(5)}
    days = [date(2026, 11, 23) + timedelta(days=i) for i in range(14) if i % 7 < 5][:10]
    step, duration, earliest = timedelta(minutes=15), MINUTES_45, utc(2026, 11, 23, 0, 0)
    span_start = local(2026, 11, 23, 0, 0)
    intervals = {advisor: [(start, start + timedelta(minutes=rng.choice((30, 45, 60))))
                           for start in (span_start + timedelta(minutes=5 * rng.randrange(14 * 24 * 12))
                                         for _ in range(500))]
                 for advisor in range(100)}
    plan = [(_day_grid(day, CPH, step), _windows(day, rules_hours, CPH)) for day in days]
    ms = _floor_ms
    plan_ms = [(grid, [ms(g) for g in grid], [(ms(ws), ms(we)) for ws, we in windows]) for grid, windows in plan]
    busy_ms = {advisor: [(ms(s), ms(e)) for s, e in busy] for advisor, busy in intervals.items()}

    began = timer.perf_counter()
    found = {}
    for advisor, busy in busy_ms.items():
        blocks = _BusyBlocks(busy)
        found[advisor] = [grid[i] for grid, grid_ms, windows in plan_ms
                          for i in _free_starts(grid=grid_ms, windows=windows, busy=(blocks,),
                                                duration=45 * 60 * 1000, earliest=ms(earliest), latest_end=None)]
    elapsed = timer.perf_counter() - began

    assert elapsed < 1.0
    plain = [start for grid, windows in plan for start in grid
             if any(ws <= start and start + duration <= we for ws, we in windows)
             and not any(s < start + duration and start < e for s, e in intervals[0])]
    assert found[0] == plain and 0 < len(plain) < 10 * 28


def test_busy_blocks_join_overlapping_and_touching_intervals():
    blocks = _BusyBlocks([(50, 60), (10, 20), (20, 30), (15, 25), (40, 40), (58, 70)])
    assert (blocks.starts, blocks.ends) == ([10, 50], [30, 70])
    assert blocks.end_of_overlap(29, 31) == 30 and blocks.end_of_overlap(30, 50) is None
    assert not blocks.overlaps(0, 10) and blocks.overlaps(69, 80) and not blocks.overlaps(70, 80)


def test_busy_times_to_the_millisecond_on_both_databases(search, factory, session, rules, now):
    """Busy rows are read as milliseconds computed by the database: a meeting ending at a fraction of a
    second blocks the start on that second, and one ending on the second does not."""
    advisor = factory.advisor()
    meeting = factory.meeting(advisor, local(2026, 11, 24, 10, 0))
    meeting.end_at = local(2026, 11, 24, 10, 45) + timedelta(microseconds=1000)
    session.add(meeting)
    session.flush()
    mine = starts(search(date(2026, 11, 24), advisor_id=advisor.id))
    assert local(2026, 11, 24, 11, 0) not in mine and local(2026, 11, 24, 11, 15) in mine
    with pytest.raises(Conflict):
        check_advisor_free(session, rules=rules, advisor=advisor, now=now, start_at=local(2026, 11, 24, 11, 0),
                           end_at=local(2026, 11, 24, 11, 45))
    meeting.end_at = local(2026, 11, 24, 10, 45)
    session.add(meeting)
    session.flush()
    assert local(2026, 11, 24, 11, 0) in starts(search(date(2026, 11, 24), advisor_id=advisor.id))
    check_advisor_free(session, rules=rules, advisor=advisor, now=now, start_at=local(2026, 11, 24, 11, 0),
                       end_at=local(2026, 11, 24, 11, 45))


def test_a_meeting_from_the_previous_day_still_blocks(search, factory, session):
    """Older meetings are skipped by their start, but not one long enough to reach into the window."""
    advisor = factory.advisor(hours={day: [(time(0, 0), time(23, 0))] for day in range(7)})
    meeting = factory.meeting(advisor, local(2026, 11, 23, 20, 0), minutes=240)  # until 00:00
    mine = starts(search(date(2026, 11, 24), advisor_id=advisor.id))
    assert mine[0] == local(2026, 11, 24, 0, 15)
    assert meeting.end_at == local(2026, 11, 24, 0, 0)
