"""Uptake statistics: every figure of the dashboard against hand-computed values, local months at
midnight edges, small-count suppression with complementary cells, and who may see what."""
from __future__ import annotations

import random
from datetime import date
from fractions import Fraction

import pytest
from sqlalchemy import event

from scheduler.errors import Forbidden, InvalidInput
from scheduler.models import Role
from scheduler.services import statistics
from scheduler.services.statistics import COUNTS, OFFER_COUNTS, RATES, ROW_SUMS, statistics_scope, uptake_statistics
from scheduler.services.suppression import Sum, minimal_patterns, recoverable, suppress

from ..uptake_data import PERIOD, ZONE, build

MEETINGS = ("booked", "held", "no_show", "cancelled", "unrecorded")
OFFERS = ("presented", "accepted", "declined", "considering", "referred",
          "eligible", "started", "not_started", "unknown", "pending")

# Worked out by hand from tests/uptake_data.py (see the comments there).
EXPECTED_OFFERS = {
    "0306/LYSN": (3, 1, 1, 0, 1, 2, 1, 0, 1, 0),
    "0306/TRAEN": (5, 3, 0, 1, 1, 4, 3, 1, 0, 0),
    "0540/GENOP": (15, 8, 2, 1, 4, 12, 7, 2, 1, 2),
    "0540/KRAEFT": (10, 6, 4, 0, 0, 6, 4, 1, 0, 1),
    "0540/PSYK": (3, 2, 1, 0, 0, 2, 1, 0, 0, 1),  # N4's declined PSYK with an uptake is no uptake
}
EXPECTED_CATEGORIES = {
    "genoptraening": (20, 11, 2, 2, 5, 16, 10, 3, 1, 2),  # GENOP (Sønderborg) + TRAEN (Odsherred)
    "kraeftrehabilitering": (10, 6, 4, 0, 0, 6, 4, 1, 0, 1),
    "mental_sundhed": (3, 2, 1, 0, 0, 2, 1, 0, 0, 1),
    "palliation": (3, 1, 1, 0, 1, 2, 1, 0, 1, 0),
}
EXPECTED_MUNICIPALITIES = {  # meetings | offers
    "0306": (6, 5, 1, 0, 0) + (8, 4, 1, 1, 2, 6, 4, 1, 1, 0),
    "0540": (20, 15, 1, 2, 2) + (28, 16, 7, 1, 4, 20, 12, 3, 1, 4),
}
EXPECTED_MONTHS = {
    # S1 (00:30 on 1 Sep, 31 Aug in UTC) and S6 (23:30 on 30 Sep) count in September
    "2026-09": (8, 6, 1, 1, 0) + (11, 6, 3, 1, 1, 7, 6, 1, 0, 0),
    # O1 (00:15 on 1 Oct, 30 Sep in UTC) and O5 (23:30 on 31 Oct) in October
    "2026-10": (9, 8, 0, 1, 0) + (14, 8, 2, 0, 4, 12, 7, 1, 2, 2),
    # N1 (00:15 on 1 Nov, 31 Oct in UTC) and N4 (23:30 on 30 Nov, the period's last day) in November
    "2026-11": (9, 6, 1, 0, 2) + (11, 6, 3, 1, 1, 7, 3, 2, 0, 2),
}
EXPECTED_TOTAL = (26, 20, 2, 2, 2) + (36, 20, 8, 2, 6, 26, 16, 4, 2, 4)


@pytest.fixture
def world(session, factory):
    world = build(session, factory)
    session.commit()
    return world


def compute(session, threshold, *, codes=("0540", "0306"), start=PERIOD[0], end=PERIOD[1]):
    return uptake_statistics(session, start=start, end=end, municipality_codes=list(codes), zone=ZONE,
                             threshold=threshold)


def values(row, names):
    return tuple(row.cells[n].value for n in names)


def test_every_figure_matches_the_hand_computed_values(session, world):
    stats = compute(session, threshold=1)  # 1: nothing is below it, nothing hidden
    assert {r.key: values(r, OFFERS) for r in stats.tables["offer"]} == EXPECTED_OFFERS
    assert {r.key: values(r, OFFERS) for r in stats.tables["category"]} == EXPECTED_CATEGORIES
    assert {r.key: values(r, MEETINGS + OFFERS) for r in stats.tables["municipality"]} == EXPECTED_MUNICIPALITIES
    assert {r.key: values(r, MEETINGS + OFFERS) for r in stats.tables["month"]} == EXPECTED_MONTHS
    assert values(stats.total, MEETINGS + OFFERS) == EXPECTED_TOTAL
    assert not any(c.is_suppressed for r in [*stats.tables["offer"], stats.total] for c in r.cells.values())

    genop = next(r for r in stats.tables["offer"] if r.key == "0540/GENOP")
    assert genop.label == "Genoptræning"
    assert genop.details == {"municipality_code": "0540", "offer_code": "GENOP", "category": "genoptraening"}
    assert genop.cells["accepted_rate"].value == pytest.approx(8 / 15)
    assert genop.cells["referred_rate"].value == pytest.approx(4 / 15)
    assert genop.cells["started_rate"].value == pytest.approx(7 / 12)
    assert genop.cells["unknown_rate"].value == pytest.approx(1 / 12)
    assert stats.total.cells["accepted_rate"].value == pytest.approx(20 / 36)
    assert stats.total.cells["declined_rate"].value == pytest.approx(8 / 36)
    assert stats.total.cells["started_rate"].value == pytest.approx(16 / 26)
    assert stats.total.cells["not_started_rate"].value == pytest.approx(4 / 26)
    municipality_names = {r.key: r.label for r in stats.tables["municipality"]}
    assert municipality_names == {"0306": "Odsherred", "0540": "Sønderborg"}


def test_one_municipality_and_a_period_without_offers(session, world):
    odsherred = compute(session, threshold=1, codes=["0306"])
    assert values(odsherred.total, MEETINGS + OFFERS) == EXPECTED_MUNICIPALITIES["0306"]
    assert [r.key for r in odsherred.tables["offer"]] == ["0306/LYSN", "0306/TRAEN"]
    # 16 and 17 September: only S7 (no-show) and S8 (cancelled), no offer presented
    quiet = compute(session, threshold=1, codes=["0540"], start=date(2026, 9, 16), end=date(2026, 9, 17))
    assert values(quiet.total, MEETINGS) == (2, 0, 1, 1, 0)
    assert quiet.tables["offer"] == [] and [r.key for r in quiet.tables["month"]] == ["2026-09"]
    rate = quiet.total.cells["accepted_rate"]
    assert rate.value is None and not rate.is_suppressed  # 0 of 0: no rate, nothing hidden
    assert values(compute(session, threshold=1, codes=[]).total, MEETINGS) == (0, 0, 0, 0, 0)


def test_months_are_local_months_across_dst_and_year_ends(session, world):
    # A period of one day at each edge: 1 September counts S1 (22:30 UTC the day before) ...
    first = compute(session, threshold=1, codes=["0540"], start=date(2026, 9, 1), end=date(2026, 9, 1))
    assert first.total.cells["held"].value == 1
    # ... 31 August does not see it, only X1 (23:30 local on 31 August)
    before = compute(session, threshold=1, codes=["0540"], start=date(2026, 8, 31), end=date(2026, 8, 31))
    assert before.total.cells["held"].value == 1 and before.total.cells["presented"].value == 1
    # October and November around 00:15 on 1 November (winter time, 23:15 UTC on 31 October)
    autumn = compute(session, threshold=1, codes=["0540"], start=date(2026, 10, 31), end=date(2026, 11, 1))
    assert {r.key: r.cells["held"].value for r in autumn.tables["month"]} == {"2026-10": 1, "2026-11": 1}
    # 1 December 00:10 local (23:10 UTC on 30 November) belongs to December
    december = compute(session, threshold=1, codes=["0540"], start=date(2026, 11, 30), end=date(2026, 12, 1))
    assert {r.key: r.cells["held"].value for r in december.tables["month"]} == {"2026-11": 1, "2026-12": 1}
    assert statistics.months_between(date(2026, 12, 5), date(2027, 2, 1)) == [
        date(2026, 12, 1), date(2027, 1, 1), date(2027, 2, 1)]


def test_small_counts_and_their_complements_are_suppressed(session, world):
    exact = compute(session, threshold=1)
    stats = compute(session, threshold=5)
    hidden = {name for name, cell in stats.total.cells.items() if cell.is_suppressed}
    # The total: 2 no-shows, 2 cancelled, 2 without outcome hide one another in the meeting partition;
    # 2 considering needs one more hidden among presented = accepted + declined + considering + referred,
    # and the cheapest is declined (hiding accepted or referred would also break eligible = accepted + referred);
    # 4 not started, 2 unknown, 4 pending protect one another among the uptake of 26.
    assert hidden == {"no_show", "cancelled", "unrecorded", "declined", "considering", "not_started", "unknown",
                      "pending", "declined_rate", "considering_rate", "not_started_rate", "unknown_rate"}
    assert values(stats.total, ("booked", "held", "presented", "accepted", "referred", "eligible", "started")) \
        == (26, 20, 36, 20, 6, 26, 16)
    assert stats.total.cells["accepted_rate"].value == pytest.approx(20 / 36)
    assert stats.total.cells["no_show"].value is None
    # Meetings per month: October's one late cancellation is protected by its hidden 0 no-shows (a change of
    # one between the two keeps every sum), not by hiding its 8 held meetings.
    months = {r.key: tuple("#" if r.cells[n].is_suppressed else r.cells[n].value for n in MEETINGS)
              for r in stats.tables["month"]}
    assert months == {"2026-09": (8, 6, "#", "#", 0), "2026-10": (9, 8, "#", "#", 0),
                      "2026-11": (9, 6, "#", 0, "#")}
    municipalities = {r.key: tuple("#" if r.cells[n].is_suppressed else r.cells[n].value for n in MEETINGS)
                      for r in stats.tables["municipality"]}
    assert municipalities == {"0306": (6, 5, "#", "#", 0), "0540": (20, 15, "#", "#", "#")}

    published = _published(stats)
    for cell, value in published.items():
        true_value = _cell(exact, cell).value
        if 0 < true_value < 5:
            assert value is None, f"{cell} = {true_value} is shown"
        if value is not None:
            assert value == true_value
    for table, rows in [*stats.tables.items(), ("total", [stats.total])]:
        for row in rows:
            for rate, (numerator, denominator) in RATES.items():
                expected = row.cells[numerator].is_suppressed or row.cells[denominator].is_suppressed
                assert row.cells[rate].is_suppressed == expected, (table, row.key, rate)
    sums = _sums_a_reader_can_use(stats)
    for s in sums:
        hidden_here = [c for c in s if published[c] is None]
        assert len(hidden_here) != 1, f"{hidden_here[0]} is the only hidden cell of a sum"
    assert _determined(published, sums) == set()


def _published(stats):
    cells = {}
    for table, rows in [*stats.tables.items(), ("total", [stats.total])]:
        for row in rows:
            for name in (OFFER_COUNTS if table in ("offer", "category") else COUNTS):
                cells[table, row.key, name] = row.cells[name].value
    return cells


def _cell(stats, cell):
    table, key, name = cell
    row = stats.total if table == "total" else next(r for r in stats.tables[table] if r.key == key)
    return row.cells[name]


def _sums_a_reader_can_use(stats):
    """Written down here from what the tables show, independently of the service: each sum as a
    list of cells, the first being the total of the others."""
    sums = []
    tables = {**stats.tables, "total": [stats.total]}
    for table, rows in tables.items():
        for row in rows:
            for total, parts in ROW_SUMS:
                if table in ("offer", "category") and total == "booked":
                    continue
                sums.append([(table, row.key, total), *((table, row.key, p) for p in parts)])
    for table in ("offer", "category", "municipality", "month"):
        for name in (OFFER_COUNTS if table in ("offer", "category") else COUNTS):
            sums.append([("total", "", name), *((table, r.key, name) for r in tables[table])])
    for name in OFFER_COUNTS:
        for group, detail in (("category", "category"), ("municipality", "municipality_code")):
            for row in tables[group]:
                sums.append([(group, row.key, name), *(("offer", o.key, name) for o in tables["offer"]
                                                        if o.details[detail] == row.key)])
    return sums


def _determined(published, sums):
    """Hidden cells a reader could solve for: Gauss-Jordan elimination with fractions (sparse rows)."""
    hidden = {c for c, v in published.items() if v is None}
    pivots = {}  # cell -> its row, 1 there and 0 in every other pivot's cell
    for s in sums:
        row = {}
        for position, cell in enumerate(s):
            if cell in hidden:
                row[cell] = row.get(cell, 0) + Fraction(1 if position == 0 else -1)
        row = {c: x for c, x in row.items() if x}
        for cell in [c for c in row if c in pivots]:
            factor = row.get(cell, 0)
            for c, x in pivots[cell].items():
                row[c] = row.get(c, 0) - factor * x
            row = {c: x for c, x in row.items() if x}
        if not row:
            continue
        cell = min(row, key=repr)
        row = {c: x / row[cell] for c, x in row.items()}
        for other in pivots.values():
            factor = other.get(cell, 0)
            if factor:
                for c, x in row.items():
                    other[c] = other.get(c, 0) - factor * x
                for c in [c for c, x in other.items() if not x]:
                    del other[c]
        pivots[cell] = row
    return {cell for cell, row in pivots.items() if len(row) == 1}


def test_the_readers_solver_finds_what_a_single_sum_gives_away():
    assert _determined({"t": 10, "a": None, "b": 4}, [["t", "a", "b"]]) == {"a"}
    assert _determined({"t": 10, "a": None, "b": None}, [["t", "a", "b"]]) == set()
    assert _determined({"t": None, "a": None, "b": None, "c": 2},
                       [["t", "a", "b"], ["t", "a", "c"], ["b", "c"]]) == {"b"}


# ---- the suppression itself, on small tables worked out by hand


def two_way(table):
    """Cells and sums of a table given as {row: {column: count}} with row and column totals."""
    values, sums = {}, []
    columns = list(next(iter(table.values())))
    for row, cells in table.items():
        values.update({(row, c): v for c, v in cells.items()})
        values[row, "total"] = sum(cells.values())
        sums.append(Sum((row, "total"), tuple((row, c) for c in columns)))
    for column in [*columns, "total"]:
        values["all", column] = sum(values[r, column] for r in table)
        sums.append(Sum(("all", column), tuple((r, column) for r in table)))
    return values, sums


def test_a_small_cell_hides_a_rectangle_in_a_two_way_table():
    values, sums = two_way({"a": {"x": 3, "y": 10, "z": 7}, "b": {"x": 8, "y": 12, "z": 9},
                            "c": {"x": 20, "y": 30, "z": 40}})
    hidden = suppress(values, sums, threshold=5)
    # 3 in (a, x); the cheapest rectangle: its row neighbour 7 (a, z), and (b, x) 8 and (b, z) 9 below.
    assert hidden == {("a", "x"), ("a", "z"), ("b", "x"), ("b", "z")}
    assert recoverable(hidden, sums) == set()


def test_a_lone_part_hides_its_total_and_a_zero_is_never_a_small_count():
    values = {"total": 3, "part": 3, "other": 0}
    hidden = suppress(values, [Sum("total", ("part", "other"))], threshold=5)
    assert hidden == {"total", "part"}  # 3 and 3; the 0 stays visible
    values = {"total": 9, "part": 0, "other": 9}
    assert suppress(values, [Sum("total", ("part", "other"))], threshold=5) == set()


def test_a_cell_on_a_bridge_between_two_hidden_rectangles_is_found_and_protected():
    # Rows r1..r4, columns c1..c4: rectangles over (r1,r2)x(c1,c2) and (r3,r4)x(c3,c4) plus (r1,c3):
    # every row and column has two hidden cells or none, yet (r1, c3) follows from the sums.
    hidden = {(1, 1), (1, 2), (2, 1), (2, 2), (3, 3), (3, 4), (4, 3), (4, 4), (1, 3)}
    rows = [Sum(("row", r), tuple((r, c) for c in range(1, 5))) for r in range(1, 5)]
    columns = [Sum(("column", c), tuple((r, c) for r in range(1, 5))) for c in range(1, 5)]
    assert recoverable(hidden, rows + columns) == {(1, 3)}
    values = {(r, c): 10 for r in range(1, 5) for c in range(1, 5)}
    values.update({(1, 3): 2, **{("row", r): 40 for r in range(1, 5)}, **{("column", c): 40 for c in range(1, 5)}})
    values["row", 1] = values["column", 3] = 32
    protected = suppress(values, rows + columns, threshold=5)
    assert (1, 3) in protected and recoverable(protected, rows + columns) == set()


def test_the_solver_over_gf_p_finds_what_gauss_jordan_over_the_rationals_finds():
    # Random hidden cells of a 5 x 6 table with totals: recoverable() clears each new pivot only
    # from the rows that hold it, which must come to the same as the reader's plain elimination.
    values, sums = two_way({row: dict.fromkeys("uvwxyz", 10) for row in "abcde"})
    as_lists = [[s.total, *s.parts] for s in sums]
    draw = random.Random(8)
    found_some = 0
    for _ in range(300):
        hidden = set(draw.sample(sorted(values), draw.randint(1, 24)))
        published = {cell: None if cell in hidden else value for cell, value in values.items()}
        expected = _determined(published, as_lists)
        assert recoverable(hidden, sums) == expected, sorted(hidden)
        found_some += bool(expected) and expected != hidden
    assert found_some > 50  # the draws include many partly recoverable patterns, not only trivial ones


def test_row_patterns_keep_the_row_sums():
    patterns = minimal_patterns(OFFER_COUNTS, ROW_SUMS[1:])
    assert {"accepted": 1, "referred": -1} in patterns["accepted"]  # eligible unchanged
    assert {"considering": 1, "declined": -1} in patterns["considering"]
    for name, found in patterns.items():
        for p in found:
            assert p[name] == 1
            for total, parts in ROW_SUMS[1:]:
                assert p.get(total, 0) == sum(p.get(x, 0) for x in parts)
    with pytest.raises(ValueError):
        suppress({"a": 1}, [], threshold=0)


def test_one_municipality_is_read_through_the_start_time_index_on_sqlite(session, world):
    """The rows where local and UTC months disagree are a few hours per month: SQLite must find them
    by start time, not read every meeting of the municipality through its index (0.4 s for
    København over ten years)."""
    if session.get_bind().dialect.name != "sqlite":
        pytest.skip("SQLite's query planner")
    connection = session.connection()
    statements = []

    def keep(_connection, _cursor, statement, parameters, _context, _executemany):
        if "segment" in statement:
            statements.append((statement, parameters))

    event.listen(connection, "before_cursor_execute", keep)
    try:
        stats = compute(session, threshold=1, codes=("0540",))
    finally:
        event.remove(connection, "before_cursor_execute", keep)
    assert stats.total.cells["booked"].value == EXPECTED_MUNICIPALITIES["0540"][0]
    assert len(statements) == 2  # meetings, and offers presented
    for statement, parameters in statements:
        plan = " ".join(row[-1] for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters))
        assert "ix_meeting_stats" in plan and "ix_meeting_municipality_code" not in plan, plan


# ---- scope and input


def test_coordinators_see_their_municipality_their_region_or_everything(session, factory):
    sonderborg = factory.user(role=Role.coordinator, municipality_code="0540")
    region = factory.user(role=Role.coordinator)
    region.region_code = "DK-85"  # Sjælland: Odsherred among 17
    national = factory.user(role=Role.coordinator)
    admin = factory.user(role=Role.admin)
    session.commit()
    assert [m.code for m in statistics_scope(session, user=sonderborg)] == ["0540"]
    zealand = [m.code for m in statistics_scope(session, user=region)]
    assert "0306" in zealand and "0540" not in zealand and len(zealand) == 17
    assert len(statistics_scope(session, user=national)) == len(statistics_scope(session, user=admin)) == 98
    for role in (Role.secretary, Role.advisor):
        with pytest.raises(Forbidden):
            statistics_scope(session, user=factory.user(role=role, municipality_code="0540"))

    resolve = statistics.resolve_municipalities
    assert resolve(session, user=sonderborg, requested=[]) == ["0540"]
    assert resolve(session, user=region, requested=["0306", " 0306"]) == ["0306"]
    with pytest.raises(Forbidden) as denied:
        resolve(session, user=sonderborg, requested=["0306"])
    assert "municipality" in denied.value.fields and "0306" in str(denied.value)
    with pytest.raises(InvalidInput) as unknown:
        resolve(session, user=admin, requested=["9999"])
    assert "municipality" in unknown.value.fields


def test_period_is_checked():
    with pytest.raises(InvalidInput) as backwards:
        statistics.check_period(date(2026, 12, 1), date(2026, 11, 1))
    assert "to" in backwards.value.fields
    with pytest.raises(InvalidInput) as too_long:
        statistics.check_period(date(2000, 1, 1), date(2026, 1, 1))
    assert "from" in too_long.value.fields
    statistics.check_period(date(2026, 1, 1), date(2026, 1, 1))
