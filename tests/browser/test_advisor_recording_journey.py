"""Journey 3 in a real browser: after the meeting the advisor records the outcome and the offers
presented with the patient's responses; later she records that the patient started an offer."""
from datetime import timedelta

from sqlmodel import select

from scheduler.db import new_session
from scheduler.models import (AnswerStatus, Meeting, MeetingStatus, Offer, OfferPresentation, OfferResponse,
                              Participant, ParticipantRole, Role, UptakeStatus, User, VideoStatus, Ward, now_utc)

from .conftest import ARTIFACTS, log_in


def past_meeting(app, *, days_ago: int) -> tuple[int, str]:
    """A meeting held `days_ago` days ago with Sønderborg's first advisor; returns (id, an offer code)."""
    with new_session(app.extensions["scheduler"].engine) as session:
        advisor = session.exec(select(User).where(User.email == "sundhed1.sonderborg@demo.example")).one()
        secretary = session.exec(select(User).where(User.role == Role.secretary)).first()
        ward = session.exec(select(Ward).where(Ward.code == "SHS-MED")).one()
        start = now_utc().replace(microsecond=0) - timedelta(days=days_ago)
        meeting = Meeting(uid="journey3@discharge-scheduler", status=MeetingStatus.confirmed, start_at=start,
                          end_at=start + timedelta(minutes=45), municipality_code="0540", ward_id=ward.id,
                          advisor_id=advisor.id, booked_by_id=secretary.id, created_at=start - timedelta(days=2),
                          updated_at=start - timedelta(days=2), video_provider="jitsi",
                          video_status=VideoStatus.ready, video_join_url="https://meet.example.org/journey3")
        session.add(meeting)
        session.flush()
        session.add(Participant(meeting_id=meeting.id, role=ParticipantRole.patient, name="Karl Jensen",
                                status=AnswerStatus.accepted))
        session.add(Participant(meeting_id=meeting.id, role=ParticipantRole.advisor, name=advisor.name,
                                email=advisor.email, user_id=advisor.id, status=AnswerStatus.accepted))
        offer = session.exec(select(Offer).where(Offer.municipality_code == "0540", Offer.active_to.is_(None))
                             .order_by(Offer.code)).first()
        session.commit()
        return meeting.id, offer.code


def test_advisor_records_offers_and_later_the_uptake(page, live_server):
    base, app = live_server
    meeting_id, code = past_meeting(app, days_ago=30)
    log_in(page, base, "sundhed1.sonderborg@demo.example")
    page.goto(f"{base}/advisor/meetings/{meeting_id}/record")
    page.locator("input[name=outcome][value=held]").check()
    page.locator(f"input[name='presented.{code}']").check()
    page.locator(f"select[name='response.{code}']").select_option("accepted")
    page.screenshot(path=str(ARTIFACTS / "journey3-record.png"), full_page=True)
    page.get_by_role("button", name="Gem registreringen").click()
    page.wait_for_load_state()

    page.goto(f"{base}/advisor/followups")
    started_on = (now_utc() - timedelta(days=10)).date().isoformat()
    page.locator("input[type=radio][value=started]").first.check()
    page.locator("input[type=date]").first.fill(started_on)
    page.screenshot(path=str(ARTIFACTS / "journey3-followup.png"), full_page=True)
    page.get_by_role("button", name="Gem opfølgning").first.click()
    page.wait_for_load_state()

    with new_session(app.extensions["scheduler"].engine) as session:
        meeting = session.get(Meeting, meeting_id)
        (presentation,) = session.exec(select(OfferPresentation).where(OfferPresentation.meeting_id == meeting_id))
        assert meeting.status == MeetingStatus.held
        assert presentation.response == OfferResponse.accepted
        assert presentation.uptake == UptakeStatus.started and presentation.started_on.isoformat() == started_on
