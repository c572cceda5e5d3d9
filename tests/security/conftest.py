"""The security tests' world: two hospitals with a ward each, two municipalities, a user of every role,
meetings booked through the real services (future and past, recorded), and clients logged in through
the real login form with CSRF protection on."""
from __future__ import annotations

import html
import itertools
import re
import string
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta

import pytest
from werkzeug.security import generate_password_hash

from scheduler.models import Meeting, MeetingOutcome, OfferResponse, ParticipantRole, Role, User
from scheduler.schemas import MeetingCreate, OfferIn, SlotQuery
from scheduler.services import booking, calendar_feeds, recording
from scheduler.services import offers as catalogue
from scheduler.services.advisors import AbsenceCreate, add_absence
from scheduler.services.users import issue_api_token

PASSWORD = "correct horse battery"
MUNICIPALITY = {"a": "0540", "b": "0306"}  # Sønderborg (Region Syddanmark), Odsherred (Region Sjælland)
REGION_OF_A = "DK-83"
# Meeting kinds: (ward, municipality). "ab" is booked by ward A for a patient living in municipality B.
KINDS = {"a": ("a", "a"), "b": ("b", "b"), "ab": ("a", "b"), "past_a": ("a", "a"), "past_b": ("b", "b")}
ROLES = ("anonymous", "secretary_a", "secretary_b", "advisor_a", "advisor_b", "coordinator_region",
         "coordinator_national", "admin", "inactive")
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def letters(n: int) -> str:
    """Three capitals per number: names that are never a substring of one another."""
    a = string.ascii_uppercase
    return a[n // 676 % 26] + a[n // 26 % 26].lower() + a[n % 26].lower()


def cpr_for(n: int) -> str:
    """A distinct, plausible CPR number (born in the 1950s, digit 7 = 1)."""
    return f"{n % 28 + 1:02d}{n // 28 % 12 + 1:02d}5{n // 336 % 10}1{n % 1000:03d}"


@dataclass
class Booked:
    """A meeting as the tests know it: who should see it, and the personal data that must not leak."""

    id: int
    uid: str
    kind: str
    ward: str  # "a" or "b"
    municipality: str  # "a" or "b"
    patient: str
    relative: str
    cpr: str  # ten digits
    booked_by: str  # role name
    advisor: str  # role name
    advisor_participant_id: int
    staff_participant_id: int
    start_at: datetime

    @property
    def cpr_forms(self) -> tuple[str, str]:
        return self.cpr, f"{self.cpr[:6]}-{self.cpr[6:]}"


@dataclass
class Series:
    id: int
    kind: str
    recurrence: str  # the first meeting, as in the URLs
    form: dict[str, str]  # the edit form as filled in


@dataclass
class World:
    session: object
    ctx: object
    now: datetime
    app: object = None
    wards: dict = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    meetings: dict[str, Booked] = field(default_factory=dict)
    series_of: dict[str, Series] = field(default_factory=dict)
    offers: dict[str, object] = field(default_factory=dict)  # municipality letter -> the offer recorded
    every_meeting: list[Booked] = field(default_factory=list)
    tokens: dict[str, str] = field(default_factory=dict)  # role -> API bearer token
    counter: itertools.count = field(default_factory=lambda: itertools.count(1))

    # ---- who may see what (the rules of issue 5, written out independently of the app)

    def sees(self, role: str, meeting: Booked) -> bool:
        if role == "admin":
            return True
        if role.startswith("secretary_"):
            return meeting.ward == role[-1]
        if role.startswith("advisor_"):
            return meeting.municipality == role[-1]
        return False

    def hidden_texts(self, role: str) -> list[str]:
        """Names of patients and relatives this role may not see."""
        return [text for m in self.every_meeting if not self.sees(role, m) for text in (m.patient, m.relative)]

    # ---- making things

    def free_slot(self, municipality: str, *, past: bool = False) -> tuple[datetime, int]:
        """The first free (start, advisor id) of the municipality: from tomorrow, or in the week before 'now'."""
        ctx = self._ctx(past)
        first = (ctx.now + timedelta(days=1)).date()
        days = 4 if past else 10  # past meetings stay well before 'now'
        query = SlotQuery.model_validate({"municipality": MUNICIPALITY[municipality], "from": first.isoformat(),
                                          "to": (first + timedelta(days=days)).isoformat()})
        slots = booking.search_slots(self.session, ctx=ctx, query=query, limit=1)
        self.session.commit()
        assert slots, f"no free slot left in municipality {municipality}"
        return slots[0].start_at, slots[0].advisor_id

    def _ctx(self, past: bool):  # type: ignore[no-untyped-def]
        return replace(self.ctx, now=self.now - timedelta(days=8)) if past else self.ctx

    def book(self, kind: str) -> Booked:
        """A meeting of this kind booked by the ward's secretary through the booking service, invite written."""
        ward, municipality = KINDS[kind]
        past = kind.startswith("past")
        start, advisor_id = self.free_slot(municipality, past=past)
        n = next(self.counter)
        patient, relative, cpr = f"Patient {letters(n)}", f"Relative {letters(n)}", cpr_for(n)
        data = MeetingCreate.model_validate({
            "ward": self.wards[ward].code, "municipality": MUNICIPALITY[municipality], "start": start.isoformat(),
            "advisor_id": advisor_id,
            "patient": {"name": patient, "cpr": cpr, "email": f"patient{n}@example.net"},
            "relatives": [{"name": relative, "email": f"relative{n}@example.net"}],
            "staff": [{"name": f"Sygeplejerske {letters(n)}", "email": f"staff{n}@hospital.example"}]})
        secretary = self.users[f"secretary_{ward}"]
        meeting = booking.book_meeting(self.session, ctx=self._ctx(past), data=data, booked_by=secretary)
        self.session.commit()
        parties = booking.participants_of(self.session, meeting)
        self.session.commit()
        advisor_role = next(r for r, u in self.users.items() if u.id == meeting.advisor_id)
        booked = Booked(id=meeting.id, uid=meeting.uid, kind=kind, ward=ward, municipality=municipality,
                        patient=patient, relative=relative, cpr=cpr, booked_by=f"secretary_{ward}",
                        advisor=advisor_role,
                        advisor_participant_id=next(p.id for p in parties if p.role == ParticipantRole.advisor),
                        staff_participant_id=next(p.id for p in parties if p.role == ParticipantRole.staff),
                        start_at=meeting.start_at)
        self.every_meeting.append(booked)
        return booked

    def record_held(self, booked: Booked) -> None:
        """Outcome held, with the municipality's offer accepted (so uptake can be recorded)."""
        meeting = self.session.get(Meeting, booked.id)
        advisor = self.users[booked.advisor]
        recording.record_meeting(self.session, ctx=self.ctx, meeting=meeting, outcome=MeetingOutcome.held,
                                 offers=[(self.offers[booked.municipality].code, OfferResponse.accepted)], note=None,
                                 actor=advisor)
        self.session.commit()

    def offer(self, municipality: str, *, code: str | None = None):  # type: ignore[no-untyped-def]
        n = next(self.counter)
        offer = catalogue.create_offer(self.session, municipality_code=MUNICIPALITY[municipality],
                                       data=OfferIn(code=code or f"T{n}", name=f"Tilbud {letters(n)}",
                                                    category="genoptraening"))
        self.session.commit()
        return offer

    def absence(self, role: str) -> int:
        start = datetime(2027, 3, 1, 8, 0) + timedelta(days=next(self.counter))
        absence = add_absence(self.session, user=self.users[role], zone=self.ctx.rules.zone, now=self.now,
                              data=AbsenceCreate(start_at=start, end_at=start + timedelta(hours=2)))
        self.session.commit()
        return absence.id

    def sees_series(self, role: str, kind: str) -> bool:
        """Series: the ward's secretaries, the advisor taking part, the region's and the national coordinator."""
        if role in ("admin", "coordinator_national"):
            return True
        if role == "coordinator_region":
            return kind == "a"
        return role in (f"secretary_{kind}", f"advisor_{kind}")

    def series(self, kind: str) -> Series:
        """A weekly cross-sector series of ward `kind` with the municipality's advisor, made by its secretary."""
        from scheduler.models import HolidayPolicy, SeriesFrequency
        from scheduler.services import series as series_service

        n = next(self.counter)
        advisor = self.users[f"advisor_{kind}"]
        people = [("hospital", f"Overlæge {letters(n)}", f"doctor{n}@hospital.example"),
                  ("municipality", advisor.name, advisor.email.lower())]
        data = series_service.SeriesInput(
            title=f"Tværsektorielt møde {letters(n)}", municipality_code=MUNICIPALITY[kind],
            first_date=date(2026, 12, 1), start_time=time(10, 0), duration_minutes=60,
            frequency=SeriesFrequency.weekly, holiday_policy=HolidayPolicy.skip, count=3,
            ward_id=self.wards[kind].id, participants=people)
        created = series_service.create_series(self.session, ctx=self.ctx, user=self.users[f"secretary_{kind}"],
                                               data=data)
        first = series_service.occurrences(self.session, created, ctx=self.ctx)[0]
        self.session.commit()
        return Series(id=created.id, kind=kind, recurrence=first.recurrence_id.strftime("%Y%m%dT%H%M%SZ"),
                      form={"title": data.title, "municipality": data.municipality_code, "first_date": "2026-12-01",
                            "start_time": "10:00", "duration_minutes": "60", "frequency": "weekly",
                            "holiday_policy": "skip", "ends": "count", "count": "3",
                            "ward_id": str(self.wards[kind].id),
                            "participants_hospital": f"{people[0][1]} <{people[0][2]}>",
                            "participants_municipality": f"{people[1][1]} <{people[1][2]}>"})

    def stranger(self) -> User:
        """A user of her own, e.g. to fail logins with without locking anyone else out."""
        n = next(self.counter)
        user = User(email=f"stranger{n}@example.org", name=f"Fremmed {letters(n)}", role=Role.secretary,
                    password_hash=generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000"))
        self.session.add(user)
        self.session.commit()
        return user

    def token_id(self, user: User) -> int:
        """The id of a new API token of this user."""
        from sqlmodel import select

        from scheduler.models import ApiToken
        from scheduler.services.users import hash_token

        token = issue_api_token(self.session, user=user, now=self.now)
        row_id = self.session.exec(select(ApiToken.id).where(ApiToken.token_hash == hash_token(token))).one()
        self.session.commit()
        return row_id

    def feed_token(self, role: str) -> str:
        token = calendar_feeds.issue_feed(self.session, user=self.users[role], now=self.now)
        self.session.commit()
        return token

    def answer_token(self, booked: Booked) -> str:
        from scheduler.models import Participant

        participant = self.session.get(Participant, booked.staff_participant_id)
        self.session.commit()
        return self.ctx.mailer.links.token_for(participant)

    def today(self) -> date:
        return self.now.astimezone(self.ctx.rules.zone).date()


def build_world(session, factory, ctx, now) -> World:  # type: ignore[no-untyped-def]
    world = World(session=session, ctx=ctx, now=now)
    world.wards = {"a": factory.ward(code="WARD-A", name="Afdeling Alfa"),
                   "b": factory.ward(code="WARD-B", name="Afdeling Bravo")}
    users = {
        "secretary_a": factory.user(role=Role.secretary, ward=world.wards["a"], name="Sekretær Alfa"),
        "secretary_b": factory.user(role=Role.secretary, ward=world.wards["b"], name="Sekretær Bravo"),
        "advisor_a": factory.advisor(MUNICIPALITY["a"], name="Rådgiver Alfa"),
        "advisor_b": factory.advisor(MUNICIPALITY["b"], name="Rådgiver Bravo"),
        "coordinator_region": factory.user(role=Role.coordinator, name="Koordinator Region"),
        "coordinator_national": factory.user(role=Role.coordinator, name="Koordinator Land"),
        "admin": factory.user(role=Role.admin, name="Administrator"),
        "inactive": factory.user(role=Role.secretary, ward=world.wards["a"], name="Tidligere Sekretær"),
    }
    users["coordinator_region"].region_code = REGION_OF_A
    password_hash = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
    for user in users.values():
        user.password_hash = password_hash
        session.add(user)
    session.commit()
    world.users = users
    for role, user in users.items():
        world.tokens[role] = issue_api_token(session, user=user, now=now)
    session.commit()
    world.offers = {m: world.offer(m, code=f"REC-{m.upper()}") for m in MUNICIPALITY}
    for kind in KINDS:
        world.meetings[kind] = world.book(kind)
    for kind in ("past_a", "past_b"):
        world.record_held(world.meetings[kind])
    world.series_of = {kind: world.series(kind) for kind in ("a", "b")}
    return world


def csrf_token(client) -> str:  # type: ignore[no-untyped-def]
    """The CSRF token of this client's session, read from a page as a browser would."""
    for path in ("/login", "/"):
        match = CSRF_FIELD.search(client.get(path, follow_redirects=True).text)
        if match:
            return match.group(1)
    raise AssertionError("no page carried a CSRF token")


def sign_in(app, user: User):  # type: ignore[no-untyped-def]
    """A test client logged in through the login form, CSRF token included."""
    client = app.test_client()
    response = client.post("/login", data={"email": user.email, "password": PASSWORD,
                                           "csrf_token": csrf_token(client)})
    assert response.status_code == 302, (user.email, response.status_code)
    return client


@pytest.fixture(autouse=True)
def fast_passwords(monkeypatch):  # type: ignore[no-untyped-def]
    """Passwords set through the app use a cheap hash in these tests (production: scrypt)."""
    from scheduler.services import users

    monkeypatch.setattr(users, "PASSWORD_METHOD", "pbkdf2:sha256:1000")


@pytest.fixture
def secure_app(app):
    """The app with CSRF protection on, as in production."""
    app.config["WTF_CSRF_ENABLED"] = True
    return app


@pytest.fixture
def world(secure_app, session, factory, ctx, now) -> World:
    world = build_world(session, factory, ctx, now)
    world.app = secure_app
    return world


@pytest.fixture
def clients(secure_app, world):  # type: ignore[no-untyped-def]
    """A test client per role; the inactive user logged in (and got her API token) before she was deactivated."""
    clients = {"anonymous": secure_app.test_client()}
    for role, user in world.users.items():
        clients[role] = sign_in(secure_app, user)
    inactive = world.users["inactive"]
    inactive.is_active = False
    world.session.add(inactive)
    world.session.commit()
    return clients


class Browser:
    """A test client logged in through the login form that sends the page's CSRF token with every form."""

    def __init__(self, app, session, user: User):  # type: ignore[no-untyped-def]
        user.password_hash = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
        session.add(user)
        session.commit()
        self.client = sign_in(app, user)
        self.token = csrf_token(self.client)

    def get(self, path: str, **kwargs):  # type: ignore[no-untyped-def]
        return self.client.get(path, **kwargs)

    def post(self, path: str, data: dict | None = None, **kwargs):  # type: ignore[no-untyped-def]
        return self.client.post(path, data={**(data or {}), "csrf_token": self.token}, **kwargs)


def first_slot(browser: Browser, form: dict[str, str]) -> str:
    """Search free times with the booking form and return the first offered slot's value."""
    response = browser.post("/meetings/new", data={**form, "action": "search"})
    assert response.status_code == 200, response.text
    match = re.search(r'name="slot" value="([^"]+)"', response.text)
    assert match, "the search found no free slot"
    return html.unescape(match.group(1))
