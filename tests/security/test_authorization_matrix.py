"""Every route of the app, called anonymously and as every role, against a table of who may do what.

A route that is not in the table fails the test, so a new page or endpoint cannot ship without a
decision about who may use it. Ids in the URLs are real: one's own meeting and another ward's or
municipality's. Whatever the outcome, no response carries the name of a patient (or relative) the
caller may not see, nor a CPR number outside the meeting page of the secretary who booked it and its
advisor. Forms go through CSRF protection with the token a browser would send.
"""
from __future__ import annotations

import io
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlmodel import select

from scheduler.models import ApiToken

from .conftest import MUNICIPALITY, PASSWORD, ROLES, World, csrf_token

OK, LOGIN = "ok", "login"  # 2xx/3xx; a redirect to the login page
Outcome = str | int
Expect = Callable[[World, str], Outcome]

SIGNED_IN = frozenset(ROLES) - {"anonymous", "inactive"}
BOOKING = frozenset({"secretary_a", "secretary_b", "admin"})
ADVISORS = frozenset({"advisor_a", "advisor_b"})
RECORDING = ADVISORS | {"admin"}
STATISTICS = frozenset({"coordinator_region", "coordinator_national", "admin"})
CATALOGUE_A = frozenset({"coordinator_region", "admin"})  # the region coordinator's region holds municipality A
_codes = itertools.count(1)


def allow(*roles: str, others: Outcome = 403, **exceptions: Outcome) -> Expect:
    """OK for `roles`, `exceptions` as given, `others` for every other signed-in role."""
    return lambda world, role: exceptions.get(role, OK if role in roles else others)


def on_meeting(kind: str, *, guard: frozenset[str] = SIGNED_IN, may: frozenset[str] = SIGNED_IN) -> Expect:
    """A route about one meeting: 403 for roles the page is not for, 404 for whoever does not see the
    meeting (its id cannot be probed), 403 for those who see it but may not do this, else OK."""

    def expect(world: World, role: str) -> Outcome:
        if role not in guard:
            return 403
        if not world.sees(role, world.meetings[kind]):
            return 404
        return OK if role in may else 403

    return expect


def everyone(outcome: Outcome = OK) -> Expect:
    return lambda world, role: outcome


@dataclass(frozen=True)
class Case:
    endpoint: str
    method: str
    path: Callable[[World, Any], str]
    expect: Expect
    subject: Callable[[World], Any] = lambda world: None
    fresh: Callable[[World], Any] | None = None  # a new subject for each call expected to succeed (it changes it)
    form: Callable[[World, Any], dict[str, Any]] | None = None
    json: Callable[[World, Any], Any] | None = None
    public: bool = False  # no login needed: anonymous callers get the table's outcome too

    @property
    def is_api(self) -> bool:
        return self.endpoint.startswith("api.")


def meeting(kind: str) -> Callable[[World], Any]:
    return lambda world: world.meetings[kind]


def booked(kind: str) -> Callable[[World], Any]:
    return lambda world: world.book(kind)


def slot_value(world: World, municipality: str) -> str:
    start, advisor_id = world.free_slot(municipality)
    return f"{start.isoformat()}|{advisor_id}"


def search_form(world: World, municipality: str = "a") -> dict[str, str]:
    first = world.today() + timedelta(days=1)
    return {"ward": world.wards["a"].code, "municipality": MUNICIPALITY[municipality], "from": first.isoformat(),
            "to": (first + timedelta(days=3)).isoformat(), "duration_minutes": "45", "language": "da"}


def booking_form(world: World, slot: str) -> dict[str, str]:
    n = next(_codes)
    return {**search_form(world), "action": "book", "slot": slot, "patient.name": f"Booket Web {n}",
            "patient.cpr": "0101501234", "staff.0.name": "Sygeplejerske", "staff.0.email": f"web{n}@hospital.example"}


def api_booking(world: World, slot: tuple[Any, int]) -> dict[str, Any]:
    n = next(_codes)
    return {"ward": world.wards["a"].code, "municipality": MUNICIPALITY["a"], "start": slot[0].isoformat(),
            "patient": {"name": f"Booket Api {n}", "cpr": "010150-1234"},
            "staff": [{"name": "Sygeplejerske", "email": f"api{n}@hospital.example"}]}


def recording_form(world: World, m: Any) -> dict[str, str]:
    code = world.offers[m.municipality].code
    return {"outcome": "held", f"presented.{code}": "1", f"response.{code}": "accepted", "note": ""}


def offer_form(code: str) -> dict[str, str]:
    return {"code": code, "name": f"Tilbud {code}", "category": "rygestop", "description": "", "contact": "",
            "active_from": "", "active_to": ""}


def _meeting_cases() -> Iterator[Case]:
    for kind in ("a", "b", "ab"):
        yield Case("meetings.show", "GET", lambda w, m: f"/meetings/{m.id}", on_meeting(kind), meeting(kind))
        yield Case("api.get_meeting", "GET", lambda w, m: f"/api/v1/meetings/{m.id}", on_meeting(kind),
                   meeting(kind))
        yield Case("api.meeting_fhir", "GET", lambda w, m: f"/api/v1/meetings/{m.id}/fhir", on_meeting(kind),
                   meeting(kind))
    for kind in ("a", "b"):
        change = on_meeting(kind, may=BOOKING)
        yield Case("meetings.cancel", "GET", lambda w, m: f"/meetings/{m.id}/cancel", change, meeting(kind))
        yield Case("meetings.cancel", "POST", lambda w, m: f"/meetings/{m.id}/cancel", change, meeting(kind),
                   booked(kind), form=lambda w, m: {"reason": "Udskrevet før mødet"})
        yield Case("meetings.invite", "GET", lambda w, m: f"/meetings/{m.id}/invite.ics", on_meeting(kind),
                   meeting(kind))
        yield Case("meetings.print_invitation", "GET", lambda w, m: f"/meetings/{m.id}/print", on_meeting(kind),
                   meeting(kind))
        yield Case("meetings.rebook", "POST", lambda w, m: f"/meetings/{m.id}/rebook", change, meeting(kind),
                   booked(kind), form=lambda w, m: {"slot": slot_value(w, m.municipality)})
        yield Case("meetings.reschedule", "GET", lambda w, m: f"/meetings/{m.id}/reschedule", change,
                   meeting(kind))
        yield Case("meetings.reschedule", "POST", lambda w, m: f"/meetings/{m.id}/reschedule", change,
                   meeting(kind), form=lambda w, m: {**search_form(w, m.municipality), "action": "search"})
        yield Case("meetings.reschedule", "POST", lambda w, m: f"/meetings/{m.id}/reschedule", change,
                   meeting(kind), booked(kind), form=lambda w, m: {
                       **search_form(w, m.municipality), "action": "reschedule",
                       "slot": slot_value(w, m.municipality), "reason": "Lægen kan ikke"})
        yield Case("meetings.retry_video", "POST", lambda w, m: f"/meetings/{m.id}/video-link", change,
                   meeting(kind))
        yield Case("api.reschedule_meeting", "PATCH", lambda w, m: f"/api/v1/meetings/{m.id}", change,
                   meeting(kind), booked(kind),
                   json=lambda w, m: {"start": w.free_slot(m.municipality)[0].isoformat()})
        yield Case("api.cancel_meeting", "POST", lambda w, m: f"/api/v1/meetings/{m.id}/cancel", change,
                   meeting(kind), booked(kind), json=lambda w, m: {"reason": "Udskrevet"})
        yield Case("api.meeting_invite", "GET", lambda w, m: f"/api/v1/meetings/{m.id}/invite.ics",
                   on_meeting(kind), meeting(kind))
    for kind in ("past_a", "past_b"):
        record = on_meeting(kind, guard=RECORDING, may=RECORDING)
        api_record = on_meeting(kind, may=RECORDING)
        code: Callable[[World, Any], str] = lambda w, m: w.offers[m.municipality].code  # noqa: E731
        yield Case("recording.record", "GET", lambda w, m: f"/advisor/meetings/{m.id}/record", record,
                   meeting(kind))
        yield Case("recording.record", "POST", lambda w, m: f"/advisor/meetings/{m.id}/record", record,
                   meeting(kind), form=recording_form)
        yield Case("recording.uptake", "POST",
                   lambda w, m: f"/advisor/meetings/{m.id}/offers/{code(w, m)}/uptake", record, meeting(kind),
                   form=lambda w, m: {"key": "u", "u.status": "unknown", "next": "record"})
        yield Case("api.put_outcome", "PUT", lambda w, m: f"/api/v1/meetings/{m.id}/outcome", api_record,
                   meeting(kind), json=lambda w, m: {"outcome": "held"})
        yield Case("api.put_offers", "PUT", lambda w, m: f"/api/v1/meetings/{m.id}/offers", api_record,
                   meeting(kind), json=lambda w, m: {"offers": [{"code": code(w, m), "response": "accepted"}]})
        yield Case("api.put_uptake", "PUT", lambda w, m: f"/api/v1/meetings/{m.id}/offers/{code(w, m)}/uptake",
                   api_record, meeting(kind), json=lambda w, m: {"status": "unknown"})
    for kind, own, other in (("a", "advisor_a", "advisor_b"), ("ab", "advisor_b", "advisor_a")):
        yield Case("advisor.answer", "POST", lambda w, m: f"/advisor/invitations/{m.advisor_participant_id}",
                   allow(own, **{other: 404}), meeting(kind), form=lambda w, m: {"status": "accepted"})


def _catalogue_cases() -> Iterator[Case]:
    a, b = MUNICIPALITY["a"], MUNICIPALITY["b"]
    yield Case("catalogue.index", "GET", lambda w, s: "/catalogue/", allow(*STATISTICS))
    yield Case("catalogue.offers", "GET", lambda w, s: f"/catalogue/{a}/", allow(*CATALOGUE_A))
    yield Case("catalogue.offers", "GET", lambda w, s: f"/catalogue/{b}/", allow("admin"))
    yield Case("catalogue.new", "GET", lambda w, s: f"/catalogue/{a}/new", allow(*CATALOGUE_A))
    yield Case("catalogue.new", "POST", lambda w, s: f"/catalogue/{a}/new", allow(*CATALOGUE_A),
               form=lambda w, s: offer_form(f"NEW{next(_codes)}"))
    yield Case("catalogue.edit", "GET", lambda w, s: f"/catalogue/{a}/{w.offers['a'].id}/edit", allow(*CATALOGUE_A))
    yield Case("catalogue.edit", "GET", lambda w, s: f"/catalogue/{a}/{w.offers['b'].id}/edit",
               allow(coordinator_region=404, admin=404))  # another municipality's offer under this one's URL
    yield Case("catalogue.edit", "POST", lambda w, s: f"/catalogue/{a}/{s.id}/edit", allow(*CATALOGUE_A),
               lambda w: w.offers["a"], form=lambda w, s: {**offer_form(s.code), "name": s.name,
                                                           "category": s.category})
    yield Case("catalogue.retire", "POST", lambda w, s: f"/catalogue/{a}/{s.id}/retire", allow(*CATALOGUE_A),
               lambda w: w.offers["a"], lambda w: w.offer("a"))
    yield Case("catalogue.delete", "POST", lambda w, s: f"/catalogue/{a}/{s.id}/delete", allow(*CATALOGUE_A),
               lambda w: w.offers["a"], lambda w: w.offer("a"))
    yield Case("catalogue.export", "GET", lambda w, s: f"/catalogue/{a}/export.csv", allow(*CATALOGUE_A))
    yield Case("catalogue.import_file", "GET", lambda w, s: f"/catalogue/{a}/import", allow(*CATALOGUE_A))
    yield Case("catalogue.import_file", "POST", lambda w, s: f"/catalogue/{a}/import", allow(*CATALOGUE_A),
               form=lambda w, s: {"file": (io.BytesIO(f"code;name;category\r\nIMP{next(_codes)};Importeret;"
                                                      f"rygestop\r\n".encode()), "tilbud.csv")})


def _advisor_cases() -> Iterator[Case]:
    own_pages = allow(*ADVISORS)
    yield Case("advisor.index", "GET", lambda w, s: "/advisor/", own_pages)
    yield Case("advisor.absences", "GET", lambda w, s: "/advisor/absences", own_pages)
    yield Case("advisor.add_absence", "POST", lambda w, s: "/advisor/absences", own_pages,
               form=lambda w, s: {"start_at": "2027-05-03T08:00", "end_at": "2027-05-03T12:00", "reason": "Kursus"})
    yield Case("advisor.delete_absence", "POST", lambda w, s: f"/advisor/absences/{s}/delete",
               allow("advisor_a", advisor_b=404), lambda w: w.absence("advisor_a"), lambda w: w.absence("advisor_a"))
    yield Case("advisor.hours", "GET", lambda w, s: "/advisor/hours", own_pages)
    yield Case("advisor.hours", "POST", lambda w, s: "/advisor/hours", own_pages, form=lambda w, s: {"action": "reset"})
    yield Case("advisor.calendar_feed", "GET", lambda w, s: "/advisor/calendar-feed", own_pages)
    yield Case("advisor.issue_calendar_feed", "POST", lambda w, s: "/advisor/calendar-feed", own_pages)
    yield Case("advisor.revoke_calendar_feed", "POST", lambda w, s: "/advisor/calendar-feed/revoke", own_pages)
    yield Case("busy_feed.show", "GET", lambda w, s: "/advisor/busy-feed", own_pages)
    yield Case("busy_feed.show", "POST", lambda w, s: "/advisor/busy-feed", own_pages,
               form=lambda w, s: {"action": "remove", "url": ""})
    yield Case("busy_feed.refresh", "POST", lambda w, s: "/advisor/busy-feed/refresh", own_pages)
    yield Case("recording.index", "GET", lambda w, s: "/advisor/recording", own_pages)
    yield Case("recording.followups", "GET", lambda w, s: "/advisor/followups", own_pages)


def user_form(user: Any, **changes: Any) -> dict[str, Any]:
    return {"email": user.email, "name": user.name, "role": user.role.value, "language": "da",
            "municipality_code": "", "region_code": "", "ward_codes": [], **changes}


def _user_cases() -> Iterator[Case]:
    admin = allow("admin")
    yield Case("admin_users.index", "GET", lambda w, s: "/admin/users/?status=all", admin)
    yield Case("admin_users.new", "GET", lambda w, s: "/admin/users/new", admin)
    yield Case("admin_users.new", "POST", lambda w, s: "/admin/users/new", admin, form=lambda w, s: {
        "email": f"ny{next(_codes)}@example.org", "name": "Ny Sekretær", "role": "secretary", "language": "da",
        "ward_codes": [w.wards["a"].code], "password": "", "password_repeat": ""})
    yield Case("admin_users.edit", "GET", lambda w, s: f"/admin/users/{w.users['secretary_a'].id}", admin)
    yield Case("admin_users.edit", "POST", lambda w, s: f"/admin/users/{s.id}", admin, lambda w: w.users["inactive"],
               lambda w: w.stranger(), form=lambda w, s: user_form(s, name="Omdøbt", ward_codes=[w.wards["a"].code]))
    yield Case("admin_users.reset_password", "POST", lambda w, s: f"/admin/users/{s.id}/password", admin,
               lambda w: w.users["inactive"], lambda w: w.stranger())
    yield Case("admin_users.deactivate", "POST", lambda w, s: f"/admin/users/{s.id}/deactivate", admin,
               lambda w: w.users["secretary_b"], lambda w: w.stranger())
    yield Case("admin_users.reactivate", "POST", lambda w, s: f"/admin/users/{s.id}/reactivate", admin,
               lambda w: w.users["inactive"], lambda w: w.stranger())
    yield Case("admin_users.revoke_token", "POST", lambda w, s: f"/admin/users/{s[0].id}/tokens/{s[1]}/revoke",
               admin, lambda w: (w.users["secretary_b"], w.token_id(w.users["secretary_b"])),
               lambda w: (u := w.stranger(), w.token_id(u)))
    # Another user's token under this user's URL.
    yield Case("admin_users.revoke_token", "POST", lambda w, s: f"/admin/users/{s[0].id}/tokens/{s[1]}/revoke",
               allow(admin=404), lambda w: (w.users["secretary_b"], w.token_id(w.users["secretary_a"])))
    yield Case("audit.index", "GET", lambda w, s: "/admin/audit/", admin)
    yield Case("audit.export", "GET", lambda w, s: "/admin/audit/audit.csv", admin)
    yield Case("account.index", "GET", lambda w, s: "/account/", allow(*SIGNED_IN))
    yield Case("account.create_token", "POST", lambda w, s: "/account/tokens", allow(*SIGNED_IN))
    yield Case("account.language", "POST", lambda w, s: "/account/language", allow(*SIGNED_IN),
               form=lambda w, s: {"language": "da"})
    yield Case("account.revoke_token", "POST", lambda w, s: f"/account/tokens/{s}/revoke",
               allow("secretary_a", others=404), lambda w: w.token_id(w.users["secretary_a"]))


def on_series(kind: str, *, guard: frozenset[str] = SIGNED_IN) -> Expect:
    """Like on_meeting: 403 for roles the page is not for, 404 for whoever does not see the series."""

    def expect(world: World, role: str) -> Outcome:
        if role not in guard:
            return 403
        return OK if world.sees_series(role, kind) else 404

    return expect


def _series_cases() -> Iterator[Case]:
    makers = frozenset({"secretary_a", "secretary_b", "coordinator_region", "coordinator_national", "admin"})
    yield Case("series.index", "GET", lambda w, s: "/series/", allow(*SIGNED_IN))
    yield Case("series.new", "GET", lambda w, s: "/series/new", allow(*makers))
    yield Case("series.new", "POST", lambda w, s: "/series/new", allow(*makers), form=lambda w, s: {
        **w.series_of["a"].form, "ward_id": "", "title": f"Ny serie {next(_codes)}"})
    for kind in ("a", "b"):
        series: Callable[[World], Any] = lambda w, k=kind: w.series_of[k]  # noqa: E731
        fresh: Callable[[World], Any] = lambda w, k=kind: w.series(k)  # noqa: E731
        change = on_series(kind, guard=makers)
        yield Case("series.show", "GET", lambda w, s: f"/series/{s.id}", on_series(kind), series)
        yield Case("series.calendar", "GET", lambda w, s: f"/series/{s.id}/calendar.ics", on_series(kind), series)
        yield Case("series.edit", "GET", lambda w, s: f"/series/{s.id}/edit", change, series)
        yield Case("series.edit", "POST", lambda w, s: f"/series/{s.id}/edit", change, series, fresh,
                   form=lambda w, s: {**s.form, "start_time": "11:00"})
        yield Case("series.cancel", "POST", lambda w, s: f"/series/{s.id}/cancel", change, series, fresh)
        yield Case("series.cancel_occurrence", "POST",
                   lambda w, s: f"/series/{s.id}/occurrences/{s.recurrence}/cancel", change, series, fresh)
        yield Case("series.move_occurrence", "GET", lambda w, s: f"/series/{s.id}/occurrences/{s.recurrence}/move",
                   change, series)
        yield Case("series.move_occurrence", "POST",
                   lambda w, s: f"/series/{s.id}/occurrences/{s.recurrence}/move", change, series, fresh,
                   form=lambda w, s: {"date": "2026-12-02", "time": "13:00"})


def _statistics_cases() -> Iterator[Case]:
    b = MUNICIPALITY["b"]
    yield Case("dashboard.index", "GET", lambda w, s: "/dashboard", allow(*STATISTICS))
    yield Case("dashboard.index", "GET", lambda w, s: f"/dashboard?municipality={b}",
               allow("coordinator_national", "admin"))  # outside the region coordinator's region
    yield Case("dashboard.download_uptake", "GET", lambda w, s: "/dashboard/uptake.csv", allow(*STATISTICS))
    yield Case("dashboard.download_statistics", "GET", lambda w, s: "/dashboard/statistics.csv", allow(*STATISTICS))
    yield Case("api.uptake_stats", "GET", lambda w, s: "/api/v1/stats/uptake", allow(*STATISTICS))
    yield Case("api.uptake_stats", "GET", lambda w, s: f"/api/v1/stats/uptake?municipality={b}",
               allow("coordinator_national", "admin"))
    yield Case("api.uptake_log_export", "GET", lambda w, s: "/api/v1/exports/uptake?format=json", allow(*STATISTICS))


def _other_cases() -> Iterator[Case]:
    yield Case("auth.home", "GET", lambda w, s: "/", allow(*SIGNED_IN))
    yield Case("auth.login", "GET", lambda w, s: "/login", everyone(), public=True)
    yield Case("auth.login", "POST", lambda w, s: "/login", everyone(401), lambda w: w.stranger(), public=True,
               form=lambda w, s: {"email": s.email, "password": "wrong"})
    yield Case("meetings.index", "GET", lambda w, s: "/meetings/?show=all", allow(*SIGNED_IN))
    yield Case("meetings.new", "GET", lambda w, s: "/meetings/new", allow(*BOOKING))
    yield Case("meetings.new", "POST", lambda w, s: "/meetings/new", allow(*BOOKING),
               form=lambda w, s: {**search_form(w), "action": "search"})
    # Booking for ward A: the other ward's secretary gets the form back with the error at the ward field.
    yield Case("meetings.new", "POST", lambda w, s: "/meetings/new", allow("secretary_a", "admin", secretary_b=422),
               lambda w: slot_value(w, "a"), form=booking_form)
    yield Case("answers.show", "GET", lambda w, s: f"/answer/{w.answer_token(w.meetings['a'])}", everyone(),
               public=True)
    yield Case("answers.show", "GET", lambda w, s: "/answer/not-a-real-token", everyone(400), public=True)
    yield Case("answers.answer", "POST", lambda w, s: f"/answer/{w.answer_token(w.meetings['a'])}", everyone(),
               public=True, form=lambda w, s: {"status": "accepted"})
    yield Case("calendar_feeds.feed", "GET", lambda w, s: f"/feeds/{s}.ics", everyone(), lambda w: "x",
               lambda w: w.feed_token("advisor_a"), public=True)
    yield Case("calendar_feeds.feed", "GET", lambda w, s: "/feeds/not-a-real-token.ics", everyone(404), public=True)
    yield Case("static", "GET", lambda w, s: "/static/app.css", everyone(), public=True)
    yield Case("api.health", "GET", lambda w, s: "/api/v1/health", everyone(), public=True)
    yield Case("api.openapi", "GET", lambda w, s: "/api/v1/openapi.json", everyone(), public=True)
    for path, endpoint in (("/api/v1/municipalities", "api.municipalities"), ("/api/v1/wards", "api.wards"),
                           ("/api/v1/meetings", "api.list_meetings"),
                           (f"/api/v1/municipalities/{MUNICIPALITY['a']}/offers", "api.municipality_offers")):
        yield Case(endpoint, "GET", lambda w, s, p=path: p, allow(*SIGNED_IN))
    yield Case("api.slots", "GET", lambda w, s: "/api/v1/slots?" + "&".join(
        f"{k}={v}" for k, v in search_form(w).items() if k in ("municipality", "from", "to")), allow(*SIGNED_IN))
    yield Case("api.create_meeting", "POST", lambda w, s: "/api/v1/meetings", allow("secretary_a", "admin"),
               lambda w: w.free_slot("a"), json=api_booking)


CASES: list[Case] = [*_meeting_cases(), *_catalogue_cases(), *_advisor_cases(), *_statistics_cases(),
                     *_user_cases(), *_series_cases(), *_other_cases(),
                     # her own password: this session goes on
                     Case("account.password", "POST", lambda w, s: "/account/password", allow(*SIGNED_IN),
                          form=lambda w, s: {"current_password": PASSWORD, "new_password": "ny adgangskode 2026",
                                             "new_password_repeat": "ny adgangskode 2026"}),
                     # last: it ends the session of every client
                     Case("auth.logout", "POST", lambda w, s: "/logout", allow(*SIGNED_IN))]


# ---- running the table


def expected(case: Case, world: World, role: str) -> Outcome:
    if role in ("anonymous", "inactive") and not case.public:
        return 401 if case.is_api else LOGIN
    return case.expect(world, role)


def outcome_of(response) -> Outcome:  # type: ignore[no-untyped-def]
    if 300 <= response.status_code < 400:
        target = urlsplit(response.location)
        return LOGIN if target.path == "/login" and "next=" in target.query else OK
    return OK if 200 <= response.status_code < 300 else response.status_code


def leaks(world: World, case: Case, role: str, subject: Any, body: str) -> list[str]:
    """Names of patients and relatives the role may not see, and CPR numbers outside their one page."""
    found = [f"name {text!r}" for text in world.hidden_texts(role) if text in body]
    for m in world.every_meeting:
        owner_page = case.endpoint == "meetings.show" and subject is m and role in (m.booked_by, m.advisor)
        found += [f"CPR of {m.patient!r}" for form in m.cpr_forms if form in body and not owner_page]
    return found


def call(world: World, clients: dict[str, Any], csrf: dict[str, str], case: Case, role: str,
         subject: Any, *, with_csrf: bool = True):  # type: ignore[no-untyped-def]
    kwargs: dict[str, Any] = {"headers": {}}
    if case.is_api and world.tokens.get(role):
        kwargs["headers"]["Authorization"] = f"Bearer {world.tokens[role]}"
    if case.json is not None:
        kwargs["json"] = case.json(world, subject)
    if case.method == "POST" and not case.is_api:
        kwargs["data"] = {**(case.form(world, subject) if case.form else {}),
                          **({"csrf_token": csrf[role]} if with_csrf else {})}
    return clients[role].open(case.path(world, subject), method=case.method, **kwargs)


def routed_endpoint(app, case: Case, world: World, subject: Any) -> str:  # type: ignore[no-untyped-def]
    path = urlsplit(case.path(world, subject)).path
    return app.url_map.bind("localhost").match(path, method=case.method)[0]


def test_every_route_is_in_the_table(secure_app):
    covered = {(case.endpoint, case.method) for case in CASES}
    routes = {(rule.endpoint, method) for rule in secure_app.url_map.iter_rules()
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert sorted(routes - covered) == [], "routes without a row in the authorisation table"
    assert sorted(covered - routes) == [], "rows for routes that no longer exist"


def test_every_route_as_every_role(secure_app, world, clients):
    csrf = {role: csrf_token(client) for role, client in clients.items()}
    failures = []
    for case in CASES:
        for role in ROLES:
            want = expected(case, world, role)
            subject = case.fresh(world) if want == OK and case.fresh else case.subject(world)
            label = f"{case.method} {case.path(world, subject)} ({case.endpoint}) as {role}"
            endpoint = routed_endpoint(secure_app, case, world, subject)
            assert endpoint == case.endpoint, f"{label} is routed to {endpoint}"
            response = call(world, clients, csrf, case, role, subject)
            got = outcome_of(response)
            if got != want:
                failures.append(f"{label}: expected {want}, got {response.status_code} {got}"
                                f" {response.location or ''}")
            body = response.get_data(as_text=True) if response.mimetype != "application/vnd.openxmlformats-" \
                "officedocument.spreadsheetml.sheet" else ""
            response.close()
            failures += [f"{label}: response shows {leak}" for leak in leaks(world, case, role, subject, body)]
            assert response.status_code < 500, f"{label}: {response.status_code}"
    assert failures == [], "\n".join(failures)


def test_every_form_post_needs_the_csrf_token(secure_app, world, clients):
    """The matrix runs with CSRF on; this proves every form POST refuses a request without the token,
    for a user who could otherwise do it, and changes nothing."""
    csrf = {role: csrf_token(client) for role, client in clients.items()}
    failures = []
    for case in CASES:
        if case.is_api or case.method not in ("POST", "PUT", "PATCH", "DELETE"):
            continue
        role = next((r for r in ROLES if expected(case, world, r) == OK), "anonymous")
        subject = case.subject(world)
        response = call(world, clients, csrf, case, role, subject, with_csrf=False)
        if response.status_code != 400 or "Formularen er udløbet" not in response.text:
            failures.append(f"{case.method} {case.path(world, subject)} as {role}: {response.status_code}")
        response.close()
    assert failures == [], "\n".join(failures)


def test_the_api_takes_only_valid_bearer_tokens(world, clients):
    """The API is exempt from CSRF because it never authenticates by cookie: a logged-in browser gets 401.
    A revoked, guessed or empty token gets 401 too, and no data."""
    for role in ("secretary_a", "admin"):
        assert clients[role].get("/api/v1/meetings").status_code == 401
        response = clients[role].post("/api/v1/meetings", json={})
        assert response.status_code == 401 and response.json["error"]

    headers = {"Authorization": f"Bearer {world.tokens['secretary_a']}"}
    assert clients["anonymous"].get("/api/v1/meetings", headers=headers).status_code == 200
    row = world.session.exec(select(ApiToken).where(ApiToken.user_id == world.users["secretary_a"].id,
                                                    ApiToken.revoked_at.is_(None))).one()
    row.revoked_at = world.now
    world.session.add(row)
    world.session.commit()
    for token in (world.tokens["secretary_a"], "dsk_guessed", ""):
        response = clients["anonymous"].get("/api/v1/meetings", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, token
        assert world.meetings["a"].patient not in response.text
