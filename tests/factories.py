"""Small factories for test data, writing real rows through the session."""
from __future__ import annotations

import itertools
from datetime import datetime, time, timedelta

from sqlmodel import Session

from scheduler.models import (AnswerStatus, Hospital, Meeting, MeetingStatus, Participant, ParticipantRole, Role,
                              User, UserWard, VideoStatus, Ward, WorkingHours)

_counter = itertools.count(1)


class Factory:
    def __init__(self, session: Session):
        self.session = session

    def ward(self, *, code: str | None = None, name: str = "Onkologisk afdeling") -> Ward:
        n = next(_counter)
        hospital = Hospital(name=f"Testsygehus {n}", region_code="DK-83")
        self.session.add(hospital)
        self.session.flush()
        ward = Ward(code=code or f"W{n}", name=name, hospital_id=hospital.id)
        self.session.add(ward)
        self.session.flush()
        return ward

    def user(self, *, role: Role = Role.secretary, name: str | None = None, email: str | None = None,
             municipality_code: str | None = None, ward: Ward | None = None) -> User:
        n = next(_counter)
        user = User(email=email or f"user{n}@example.org", name=name or f"Bruger {n}", role=role,
                    municipality_code=municipality_code)
        self.session.add(user)
        self.session.flush()
        if ward is not None:
            self.session.add(UserWard(user_id=user.id, ward_id=ward.id))
            self.session.flush()
        return user

    def advisor(self, municipality_code: str = "0540", *, name: str | None = None,
                hours: dict[int, list[tuple[time, time]]] | None = None) -> User:
        """An advisor; `hours` maps weekday (0 = Monday) to windows, else the config default."""
        advisor = self.user(role=Role.advisor, name=name, municipality_code=municipality_code)
        for weekday, windows in (hours or {}).items():
            for start, end in windows:
                self.session.add(WorkingHours(user_id=advisor.id, weekday=weekday, start_time=start,
                                              end_time=end))
        self.session.flush()
        return advisor

    def secretary(self, ward: Ward | None = None) -> User:
        return self.user(role=Role.secretary, ward=ward or self.ward())

    def meeting(self, advisor: User, start_at: datetime, *, minutes: int = 45,
                status: MeetingStatus = MeetingStatus.booked, ward: Ward | None = None,
                staff_emails: tuple[str, ...] = ()) -> Meeting:
        """A meeting of `advisor` booked by a secretary of `ward`, with staff participants by e-mail."""
        n = next(_counter)
        ward = ward or self.ward()
        meeting = Meeting(uid=f"test-{n}@discharge-scheduler", status=status, start_at=start_at,
                          end_at=start_at + timedelta(minutes=minutes),
                          municipality_code=advisor.municipality_code, ward_id=ward.id, advisor_id=advisor.id,
                          booked_by_id=self.secretary(ward).id, video_provider="jitsi",
                          video_status=VideoStatus.ready)
        self.session.add(meeting)
        self.session.flush()
        for email in staff_emails:
            self.session.add(Participant(meeting_id=meeting.id, role=ParticipantRole.staff, name=email,
                                         email=email, status=AnswerStatus.accepted))
        self.session.flush()
        return meeting
