from datetime import UTC, datetime, timedelta, timezone

from sqlmodel import select

from scheduler.models import Absence, Municipality


def test_municipalities_loaded(session):
    codes = {m.code: m for m in session.exec(select(Municipality))}
    assert len(codes) == 98
    assert codes["0540"].name == "Sønderborg"
    assert codes["0540"].region_code == "DK-83"


def test_datetimes_round_trip_as_aware_utc(session, factory):
    advisor = factory.advisor()
    local = datetime(2026, 3, 29, 3, 30, tzinfo=timezone(timedelta(hours=2)))
    session.add(Absence(user_id=advisor.id, start_at=local, end_at=local + timedelta(hours=1)))
    session.commit()
    session.expire_all()
    absence = session.exec(select(Absence)).one()
    assert absence.start_at == local
    assert absence.start_at.tzinfo == UTC
