"""The uptake log export: contents and formats (CSV with ; and BOM, XLSX parsed back, JSON), formula
neutralisation, no personal data, a stable pseudonymous key, and streaming in bounded memory."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import random
import sqlite3
import tracemalloc
import zipfile
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import insert
from sqlmodel import select

from scheduler import crypto
from scheduler.errors import InvalidInput
from scheduler.models import (AnswerStatus, Hospital, Meeting, MeetingOutcome, MeetingStatus, Municipality, Offer,
                              OfferPresentation, OfferResponse, Participant, ParticipantRole, Role, UptakeStatus,
                              User, VideoStatus, Ward)
from scheduler.services import exports
from scheduler.services.exports import COLUMNS, export_chunks, uptake_rows

from ..uptake_data import (NOTE, PATIENT_EMAIL, PATIENT_NAME, PATIENT_PHONE, PERIOD, SPECS, ZONE, build, cpr_of,
                           digest_of)

KEY = exports.export_key(configured="evaluation-key-2026", secret_key="unused")


@pytest.fixture
def world(session, factory):
    world = build(session, factory)
    session.commit()
    return world


def rows(engine, key=KEY, codes=("0540", "0306"), start=PERIOD[0], end=PERIOD[1]):
    return uptake_rows(engine, start=start, end=end, municipality_codes=list(codes), zone=ZONE, key=key)


def export(engine, fmt, key=KEY, **options) -> bytes:
    return b"".join(export_chunks(rows(engine, key), fmt=fmt, **options))


def read_csv(data: bytes, delimiter=";") -> list[dict[str, str]]:
    assert data.startswith(b"\xef\xbb\xbf"), "no byte-order mark: Danish Excel would garble æøå"
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig")), delimiter=delimiter))


def test_csv_has_one_row_per_offer_presented_in_the_period(engine, world):
    data = export(engine, "csv")
    assert data.decode("utf-8-sig").splitlines()[0].split(";") == list(COLUMNS)
    table = read_csv(data)
    assert len(table) == 36  # the offers presented at meetings from 1 Sep to 30 Nov in 0540 and 0306
    first = table[0]  # S1, 00:30 local on 1 September: the local date, not the UTC one
    assert {k: first[k] for k in COLUMNS if k != "patient_key"} == {
        "meeting_date": "2026-09-01", "municipality_code": "0540", "municipality_name": "Sønderborg",
        "ward_code": "ONK", "offer_code": "GENOP", "offer_category": "genoptraening", "response": "accepted",
        "uptake_status": "started", "started_on": "2026-09-15", "meeting_status": "held", "meeting_outcome": "",
        "meeting_type": "discharge"}
    assert len(first["patient_key"]) == 32 and int(first["patient_key"], 16) >= 0
    assert [r["meeting_date"] for r in table] == sorted(r["meeting_date"] for r in table)
    assert {r["meeting_date"] for r in table} >= {"2026-10-31", "2026-11-01", "2026-11-30"}
    assert "2026-08-31" not in {r["meeting_date"] for r in table}  # X1
    assert "0151" not in {r["municipality_code"] for r in table}  # X3
    declined = [r for r in table if r["offer_code"] == "PSYK" and r["response"] == "declined"]
    assert declined[0]["uptake_status"] == "started"  # the log shows what was recorded, as it was
    odsherred = [r for r in table if r["municipality_code"] == "0306"]
    assert len(odsherred) == 8 and {r["municipality_name"] for r in odsherred} == {"Odsherred"}
    by_response = {}
    for r in table:
        by_response[r["response"]] = by_response.get(r["response"], 0) + 1
    assert by_response == {"accepted": 20, "declined": 8, "considering": 2, "referred": 6}

    comma = read_csv(export(engine, "csv", separator=","), delimiter=",")
    assert comma == table
    with pytest.raises(InvalidInput):
        exports.check_format("csv", "|")
    with pytest.raises(InvalidInput):
        exports.check_format("pdf")


def test_xlsx_and_json_hold_the_same_rows(engine, world):
    table = read_csv(export(engine, "csv"))
    workbook = load_workbook(io.BytesIO(export(engine, "xlsx")), read_only=True)
    sheet = workbook["uptake"]
    values = list(sheet.iter_rows(values_only=True))
    assert values[0] == COLUMNS and len(values) == 37
    first = dict(zip(COLUMNS, values[1]))
    assert first["meeting_date"].date() == date(2026, 9, 1)  # a real date cell, not text
    assert first["offer_code"] == "GENOP" and first["municipality_name"] == "Sønderborg"
    assert [v[COLUMNS.index("patient_key")] for v in values[1:]] == [r["patient_key"] for r in table]
    workbook.close()

    parsed = json.loads(export(engine, "json"))
    assert len(parsed) == 36 and set(parsed[0]) == set(COLUMNS)
    assert parsed[0]["meeting_date"] == "2026-09-01" and parsed[0]["meeting_outcome"] is None
    assert [r["patient_key"] for r in parsed] == [r["patient_key"] for r in table]
    assert json.loads(b"".join(exports.json_chunks([]))) == []
    empty = load_workbook(io.BytesIO(b"".join(exports.xlsx_chunks([]))), read_only=True)
    assert list(empty["uptake"].iter_rows(values_only=True)) == [COLUMNS]


def test_cells_a_spreadsheet_would_run_are_neutralised(engine, session, factory, world):
    ward = factory.ward(code="@WARD")
    offer = Offer(municipality_code="0540", code="=HYPERLINK(\"x\")", name="Formel", category="+cat")
    session.add(offer)
    advisor = factory.advisor("0540")
    meeting = factory.meeting(advisor, datetime(2026, 10, 14, 9, tzinfo=UTC), status=MeetingStatus.held, ward=ward)
    session.add(OfferPresentation(meeting_id=meeting.id, offer_id=offer.id, response=OfferResponse.declined))
    session.commit()

    row = next(r for r in read_csv(export(engine, "csv")) if r["ward_code"].endswith("WARD"))
    assert (row["ward_code"], row["offer_code"], row["offer_category"]) == (
        "'@WARD", "'=HYPERLINK(\"x\")", "'+cat")
    sheet = load_workbook(io.BytesIO(export(engine, "xlsx")))["uptake"]  # full mode: cell types visible
    cells = next(r for r in sheet.iter_rows(min_row=2) if str(r[3].value).endswith("WARD"))
    assert cells[4].value == "'=HYPERLINK(\"x\")" and cells[4].data_type == "s"  # text, not a formula
    assert cells[3].value == "'@WARD"
    for value, expected in [("-1", "'-1"), ("\tx", "'\tx"), ("a=b", "a=b"), ("", ""), (5, 5)]:
        assert exports.neutralize(value) == expected


def test_no_personal_data_in_any_format(engine, session, world):
    names = {u.name for u in session.exec(select(User))}
    forbidden = {PATIENT_NAME, PATIENT_EMAIL, PATIENT_PHONE, NOTE, *names,
                 *(m.uid for m in world.meetings.values())}
    for spec in SPECS:
        cpr = cpr_of(spec.name)
        if cpr:
            forbidden |= {cpr, f"{cpr[:6]}-{cpr[6:]}"}
    for fmt in ("csv", "json", "xlsx"):
        data = export(engine, fmt)
        if fmt == "xlsx":
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                text = "".join(archive.read(n).decode("utf-8") for n in archive.namelist())
        else:
            text = data.decode("utf-8-sig")
        leaked = {value for value in forbidden if value in text}
        assert not leaked, f"{fmt} export holds {leaked}"


def test_the_patient_key_is_stable_per_key_and_patient_and_not_the_plain_hash(engine, world):
    first = read_csv(export(engine, "csv"))
    again = read_csv(export(engine, "csv"))
    other = read_csv(export(engine, "csv", key=exports.export_key(configured="another-key", secret_key="x")))
    assert [r["patient_key"] for r in first] == [r["patient_key"] for r in again]
    assert not {r["patient_key"] for r in first} & {r["patient_key"] for r in other}

    def keys_of(meeting_name):
        date_of = world.meetings[meeting_name].start_at.astimezone(ZONE).date().isoformat()
        return {r["patient_key"] for r in first if r["meeting_date"] == date_of}

    assert keys_of("S1") == keys_of("N1")  # the same patient (same CPR) at two meetings
    assert keys_of("S1") != keys_of("S2")
    assert len(keys_of("S6")) == 1 and keys_of("S6") != keys_of("S5")  # no CPR: keyed by the meeting
    cpr, digest = cpr_of("S1"), digest_of("S1")
    assert keys_of("S1") == {exports.patient_key(KEY, cpr_digest=digest, meeting_uid="whatever")}
    assert exports.patient_key(KEY, cpr_digest=digest, meeting_uid="u") not in (
        digest[:32], hashlib.sha256(cpr.encode()).hexdigest()[:32], hashlib.sha256(f"cpr:{cpr}".encode()).hexdigest()[:32])

    derived = exports.export_key(configured="", secret_key="app-secret")
    assert derived == exports.export_key(configured="", secret_key="app-secret")
    assert derived != exports.export_key(configured="", secret_key="other-secret") != b"app-secret"
    assert exports.export_key(configured="k", secret_key="app-secret") == b"k"


def test_the_export_never_decrypts_a_cpr_number(engine, world):
    from cryptography.fernet import Fernet

    from scheduler import crypto

    before = read_csv(export(engine, "csv"))
    crypto.configure_keys([Fernet.generate_key().decode()], digest_secret="another-secret")  # no key that reads
    assert read_csv(export(engine, "csv")) == before  # the key comes from the stored digest alone


def test_the_period_is_checked_before_any_row_is_read(engine):
    with pytest.raises(InvalidInput):
        rows(engine, start=date(2026, 12, 1), end=date(2026, 11, 1))


def test_reading_an_export_does_not_hold_the_sqlite_write_lock(engine, world, database_url):
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL readers never block writers")
    stream = rows(engine)
    assert next(stream)  # the export is reading, half-way
    writer = sqlite3.connect(database_url.removeprefix("sqlite:///"), timeout=1)
    writer.execute("BEGIN IMMEDIATE")  # would wait, then fail, if the export held the lock
    writer.execute("UPDATE municipality SET name = name WHERE code = '0540'")
    writer.commit()
    writer.close()
    assert len(list(stream)) == 35
    stream.close()


def _bulk(session, meetings: int, offers_per_meeting: int) -> None:
    """Many meetings with offers and patients, inserted in batches with SQLAlchemy core (executemany)."""
    hospital = Hospital(name="Bulksygehus")
    session.add(hospital)
    session.flush()
    ward = Ward(code="BULK", name="Bulk", hospital_id=hospital.id)
    user = User(email="bulk@example.org", name="Bulk", role=Role.advisor, municipality_code="0540")
    session.add_all([ward, user])
    session.flush()
    offers = [Offer(municipality_code="0540", code=f"B{i}", name=f"Tilbud {i}", category="genoptraening")
              for i in range(offers_per_meeting)]
    session.add_all(offers)
    session.flush()
    start = datetime(2026, 1, 1, 8, tzinfo=UTC)
    connection = session.connection()
    first_id = 1_000_000
    for batch in range(0, meetings, 2000):
        ids = range(batch, min(batch + 2000, meetings))
        connection.execute(insert(Meeting), [{
            "id": first_id + i, "uid": f"bulk-{i}", "status": MeetingStatus.held,
            "start_at": start + timedelta(minutes=20 * i), "end_at": start + timedelta(minutes=20 * i + 45),
            "municipality_code": "0540", "ward_id": ward.id, "advisor_id": user.id, "booked_by_id": user.id,
            "video_provider": "jitsi", "video_status": VideoStatus.ready} for i in ids])
        connection.execute(insert(Participant), [{
            "meeting_id": first_id + i, "role": ParticipantRole.patient, "name": "Bulk Patient",
            "cpr": f"{i % 10**10:010d}", "status": AnswerStatus.accepted} for i in ids])
        connection.execute(insert(OfferPresentation), [{
            "meeting_id": first_id + i, "offer_id": o.id, "response": OfferResponse.accepted,
            "uptake": UptakeStatus.started} for i in ids for o in offers])
    session.commit()


def test_a_large_export_streams_in_bounded_memory(engine, session):
    if engine.dialect.name != "sqlite":
        pytest.skip("the large data set runs on SQLite only (speed); bench/export_csv.py measures PostgreSQL")
    _bulk(session, meetings=10_000, offers_per_meeting=5)  # 50,000 rows
    session.close()
    tracemalloc.start()
    try:
        size = lines = 0
        for chunk in export_chunks(rows(engine, start=date(2026, 1, 1), end=date(2026, 12, 31)), fmt="csv"):
            size += len(chunk)
            lines += chunk.count(b"\n")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert lines == 50_001
    assert size > 5_000_000  # the whole export is several megabytes ...
    assert peak < 5_000_000, f"peak {peak / 1e6:.1f} MB"  # ... but never held at once


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_text_formats_write_chunks_while_rows_still_arrive(fmt):
    consumed = 0

    def generated():
        nonlocal consumed
        for i in range(20_000):
            consumed += 1
            yield (date(2026, 1, 1), "0540", "Sønderborg", "W", f"O{i}", "genoptraening", "accepted", None, None,
                   "held", None, "discharge", f"{i:032x}")

    chunks = export_chunks(generated(), fmt=fmt)
    first = next(chunks)
    assert 0 < len(first) < 2 * exports.CHUNK_BYTES and consumed < 2_000
    rest = b"".join(chunks)
    assert consumed == 20_000 and (first + rest).count(b"\n") >= 20_000


# ---- the exact bytes: a golden log with hostile cells


GOLDEN_PERIOD = (date(2026, 3, 1), date(2026, 3, 31))


def golden_world(session, factory) -> None:
    """A small log as any route could have left it: catalogue texts and names that start like a
    formula (= + - @ tab CR), texts that need quoting (separators, quotes, line breaks), æøå, a
    patient with a CPR number at two meetings and one without any, two meetings starting at the same
    time, one at 00:30 local time (still the day before in UTC) and offers with and without uptake."""
    session.get(Municipality, "0306").name = "+Odsherred, \"Vest\""
    advisors = {code: factory.advisor(code) for code in ("0540", "0306")}
    wards = [factory.ward(code="@ONK;1"), factory.ward(code="-KIR"), factory.ward(code="\tMED\rA")]
    offers = [Offer(municipality_code="0540", code="=SUM(1;2)", name="Formel", category="genoptraening"),
              Offer(municipality_code="0540", code="GENOP", name="Genoptræning", category="+kat"),
              Offer(municipality_code="0540", code="\rCR", name="Linje", category="kræft, rehab\nlinje 2"),
              Offer(municipality_code="0306", code="-1", name="Minus", category="@palliation"),
              Offer(municipality_code="0306", code="TRÆN", name="Træning", category="genoptraening")]
    session.add_all(offers)
    session.flush()
    meetings = [  # uid, municipality, UTC start, ward, status, outcome, type, CPR, offers (offer, response, uptake)
        ("golden-1", "0540", datetime(2026, 3, 1, 23, 30, tzinfo=UTC), 0, MeetingStatus.held, None, "discharge",
         "0101701234", [(0, OfferResponse.accepted, UptakeStatus.started), (1, OfferResponse.declined, None),
                        (2, OfferResponse.referred, UptakeStatus.unknown)]),
        ("golden-2", "0540", datetime(2026, 3, 10, 9, tzinfo=UTC), 1, MeetingStatus.held, MeetingOutcome.held,
         "=kind", None, [(1, OfferResponse.considering, None), (2, OfferResponse.accepted, UptakeStatus.not_started)]),
        ("golden-3", "0306", datetime(2026, 3, 10, 9, tzinfo=UTC), 2, MeetingStatus.confirmed,
         MeetingOutcome.no_show, "discharge", "0202802345", [(3, OfferResponse.declined, None)]),
        ("golden-4", "0306", datetime(2026, 3, 20, 13, 15, tzinfo=UTC), 2, MeetingStatus.held, None, "discharge",
         "0101701234", [(3, OfferResponse.accepted, UptakeStatus.started),
                        (4, OfferResponse.accepted, UptakeStatus.started)]),
        ("golden-5", "0540", datetime(2026, 3, 31, 22, 30, tzinfo=UTC), 0, MeetingStatus.held, None, "discharge",
         "0303903456", [(0, OfferResponse.accepted, None)]),  # 1 April local time: outside the period
    ]
    for uid, code, start, ward, status, outcome, kind, cpr, presented in meetings:
        meeting = factory.meeting(advisors[code], start, status=status, ward=wards[ward])
        meeting.uid, meeting.outcome, meeting.meeting_type = uid, outcome, kind
        session.add(Participant(meeting_id=meeting.id, role=ParticipantRole.patient, name="Golden Patient",
                                cpr=cpr, cpr_digest=crypto.cpr_digest(cpr) if cpr else None,
                                status=AnswerStatus.accepted))
        for index, response, uptake in presented:
            session.add(OfferPresentation(meeting_id=meeting.id, offer_id=offers[index].id, response=response,
                                          uptake=uptake, started_on=date(2026, 4, 2) if uptake else None))
    session.commit()


def golden_export(engine, fmt, **options) -> bytes:
    return b"".join(export_chunks(rows(engine, codes=("0540", "0306"), start=GOLDEN_PERIOD[0],
                                       end=GOLDEN_PERIOD[1]), fmt=fmt, **options))


KEY_0101701234 = "a14ee7155ad92cb27fac808e878c8e23"  # the patient of golden-1 and golden-4
KEY_0202802345 = "be18e106a9c58ad604e1284dd03c616f"
KEY_GOLDEN_2 = "4ec559c552a4d59e9cc865d270b4d1e3"  # no CPR number: keyed by the meeting
SØNDERBORG, ODSHERRED = ("0540", "Sønderborg"), ("0306", "+Odsherred, \"Vest\"")
MARCH_2, MARCH_10, MARCH_20, APRIL_2 = date(2026, 3, 2), date(2026, 3, 10), date(2026, 3, 20), date(2026, 4, 2)
GOLDEN_ROWS = [  # what the JSON and XLSX writers get: values as stored, real dates, None for nothing
    (MARCH_2, *SØNDERBORG, "@ONK;1", "\rCR", "kræft, rehab\nlinje 2", "referred", "unknown", APRIL_2, "held", None,
     "discharge", KEY_0101701234),
    (MARCH_2, *SØNDERBORG, "@ONK;1", "=SUM(1;2)", "genoptraening", "accepted", "started", APRIL_2, "held", None,
     "discharge", KEY_0101701234),
    (MARCH_2, *SØNDERBORG, "@ONK;1", "GENOP", "+kat", "declined", None, None, "held", None, "discharge",
     KEY_0101701234),
    (MARCH_10, *SØNDERBORG, "-KIR", "\rCR", "kræft, rehab\nlinje 2", "accepted", "not_started", APRIL_2, "held",
     "held", "=kind", KEY_GOLDEN_2),
    (MARCH_10, *SØNDERBORG, "-KIR", "GENOP", "+kat", "considering", None, None, "held", "held", "=kind", KEY_GOLDEN_2),
    (MARCH_10, *ODSHERRED, "\tMED\rA", "-1", "@palliation", "declined", None, None, "confirmed", "no_show",
     "discharge", KEY_0202802345),
    (MARCH_20, *ODSHERRED, "\tMED\rA", "-1", "@palliation", "accepted", "started", APRIL_2, "held", None,
     "discharge", KEY_0101701234),
    (MARCH_20, *ODSHERRED, "\tMED\rA", "TRÆN", "genoptraening", "accepted", "started", APRIL_2, "held", None,
     "discharge", KEY_0101701234),
]
GOLDEN_CSV = "\ufeff" + "".join(line + "\r\n" for line in [  # as written before the export was made faster
    ";".join(COLUMNS),
    "2026-03-02;0540;Sønderborg;\"'@ONK;1\";\"'\rCR\";\"kræft, rehab\nlinje 2\";referred;unknown;2026-04-02;held;;"
    f"discharge;{KEY_0101701234}",
    "2026-03-02;0540;Sønderborg;\"'@ONK;1\";\"'=SUM(1;2)\";genoptraening;accepted;started;2026-04-02;held;;discharge;"
    f"{KEY_0101701234}",
    f"2026-03-02;0540;Sønderborg;\"'@ONK;1\";GENOP;'+kat;declined;;;held;;discharge;{KEY_0101701234}",
    "2026-03-10;0540;Sønderborg;'-KIR;\"'\rCR\";\"kræft, rehab\nlinje 2\";accepted;not_started;2026-04-02;held;held;"
    f"'=kind;{KEY_GOLDEN_2}",
    f"2026-03-10;0540;Sønderborg;'-KIR;GENOP;'+kat;considering;;;held;held;'=kind;{KEY_GOLDEN_2}",
    "2026-03-10;0306;\"'+Odsherred, \"\"Vest\"\"\";\"'\tMED\rA\";'-1;'@palliation;declined;;;confirmed;no_show;"
    f"discharge;{KEY_0202802345}",
    "2026-03-20;0306;\"'+Odsherred, \"\"Vest\"\"\";\"'\tMED\rA\";'-1;'@palliation;accepted;started;2026-04-02;held;;"
    f"discharge;{KEY_0101701234}",
    "2026-03-20;0306;\"'+Odsherred, \"\"Vest\"\"\";\"'\tMED\rA\";TRÆN;genoptraening;accepted;started;2026-04-02;held;;"
    f"discharge;{KEY_0101701234}",
])
GOLDEN_CSV_COMMA = "\ufeff" + "".join(line + "\r\n" for line in [
    ",".join(COLUMNS),
    "2026-03-02,0540,Sønderborg,'@ONK;1,\"'\rCR\",\"kræft, rehab\nlinje 2\",referred,unknown,2026-04-02,held,,"
    f"discharge,{KEY_0101701234}",
    f"2026-03-02,0540,Sønderborg,'@ONK;1,'=SUM(1;2),genoptraening,accepted,started,2026-04-02,held,,discharge,"
    f"{KEY_0101701234}",
    f"2026-03-02,0540,Sønderborg,'@ONK;1,GENOP,'+kat,declined,,,held,,discharge,{KEY_0101701234}",
    "2026-03-10,0540,Sønderborg,'-KIR,\"'\rCR\",\"kræft, rehab\nlinje 2\",accepted,not_started,2026-04-02,held,held,"
    f"'=kind,{KEY_GOLDEN_2}",
    f"2026-03-10,0540,Sønderborg,'-KIR,GENOP,'+kat,considering,,,held,held,'=kind,{KEY_GOLDEN_2}",
    "2026-03-10,0306,\"'+Odsherred, \"\"Vest\"\"\",\"'\tMED\rA\",'-1,'@palliation,declined,,,confirmed,no_show,"
    f"discharge,{KEY_0202802345}",
    "2026-03-20,0306,\"'+Odsherred, \"\"Vest\"\"\",\"'\tMED\rA\",'-1,'@palliation,accepted,started,2026-04-02,held,,"
    f"discharge,{KEY_0101701234}",
    "2026-03-20,0306,\"'+Odsherred, \"\"Vest\"\"\",\"'\tMED\rA\",TRÆN,genoptraening,accepted,started,2026-04-02,held,,"
    f"discharge,{KEY_0101701234}",
])


def test_the_exact_bytes_of_a_log_with_hostile_cells(engine, session, factory):
    golden_world(session, factory)
    assert golden_export(engine, "csv") == GOLDEN_CSV.encode("utf-8")
    assert golden_export(engine, "csv", separator=",") == GOLDEN_CSV_COMMA.encode("utf-8")
    typed = [[(type(value), value) for value in row]
             for row in rows(engine, codes=("0540", "0306"), start=GOLDEN_PERIOD[0], end=GOLDEN_PERIOD[1])]
    assert typed == [[(type(value), value) for value in row] for row in GOLDEN_ROWS]
    assert json.loads(golden_export(engine, "json")) == [
        {column: value.isoformat() if isinstance(value, date) else value for column, value in zip(COLUMNS, row)}
        for row in GOLDEN_ROWS]
    assert exports.patient_key(KEY, cpr_digest=crypto.cpr_digest("0101701234"), meeting_uid="x") == KEY_0101701234
    assert exports.patient_key(KEY, cpr_digest=None, meeting_uid="golden-2") == KEY_GOLDEN_2


def test_any_rows_are_written_as_the_csv_module_writes_their_neutralised_text():
    """The CSV writer's fast path (cells joined when none needs quotes) against its definition, for the
    kinds of value any export passes (the audit trail and the statistics tables too)."""
    texts = ["", "x", "Sønderborg", "a;b", "a,b", 'say "hi"', "two\nlines", "cr\rhere", " padded ", "-", "'"]
    texts += [start + "SUM(1)" for start in exports.FORMULA_STARTS]
    values = [*texts, None, date(2026, 3, 2), datetime(2026, 3, 2, 9, 30, tzinfo=UTC), datetime(2026, 3, 2, 9, 30),
              0, 7, -7, 2.5, -0.5, True, OfferResponse.accepted, Decimal("-1.50")]
    generator = random.Random(8)
    rows = [tuple(generator.choice(values) for _ in range(generator.randint(1, 6))) for _ in range(3000)]
    rows += [(None,), ("",), (), (None, None), ("a",)]
    for separator in exports.SEPARATORS:
        expected = io.StringIO()
        writer = csv.writer(expected, delimiter=separator)
        writer.writerow(("a", "b"))
        for row in rows:
            writer.writerow([exports.neutralize(exports._text(value)) for value in row])
        written = b"".join(exports.csv_chunks(rows, header=("a", "b"), separator=separator))
        assert written == ("\ufeff" + expected.getvalue()).encode("utf-8")
