"""Uptake statistics for coordinators: meetings, offers presented, responses and uptake per offer,
category, municipality and month, with small counts suppressed.

The database does the counting (GROUP BY offer, response and uptake; local month, response and
uptake; municipality, local month, status and outcome); Python only adds up those aggregated
rows into the four published tables and the total. The four tables are suppressed together, as
one system of sums, so that fetching one grouping after another for the same filter never gives
away a hidden count.
"""
from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, literal, text
from sqlmodel import Session, select

from ..errors import N_, Forbidden, InvalidInput
from ..models import (Meeting, MeetingOutcome, MeetingStatus, Municipality, Offer, OfferPresentation,
                      OfferResponse, Role, UptakeStatus, User)
from .offers import CATEGORIES
from .suppression import Sum, minimal_patterns, suppress
from .timeutil import day_start_utc

GROUPINGS = ("offer", "category", "municipality", "month")
MAX_MONTHS = 120  # ten years is more than any evaluation needs, and keeps the month CASE small
PARTNERS = 8  # offers tried per kind of partner when protecting a count (the likely cheapest first)

MEETING_COUNTS = ("booked", "held", "no_show", "cancelled", "unrecorded")
RESPONSE_COUNTS = ("presented", "accepted", "declined", "considering", "referred")
UPTAKE_COUNTS = ("eligible", "started", "not_started", "unknown", "pending")
OFFER_COUNTS = RESPONSE_COUNTS + UPTAKE_COUNTS
COUNTS = MEETING_COUNTS + OFFER_COUNTS
RATES: dict[str, tuple[str, str]] = {  # rate -> (numerator, denominator)
    "accepted_rate": ("accepted", "presented"), "declined_rate": ("declined", "presented"),
    "considering_rate": ("considering", "presented"), "referred_rate": ("referred", "presented"),
    "started_rate": ("started", "eligible"), "not_started_rate": ("not_started", "eligible"),
    "unknown_rate": ("unknown", "eligible"),
}
OFFER_RATES = tuple(RATES)

# What every row adds up to: a hidden cell must never be the only unknown of one of these.
ROW_SUMS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("booked", ("held", "no_show", "cancelled", "unrecorded")),
    ("presented", ("accepted", "declined", "considering", "referred")),
    ("eligible", ("accepted", "referred")),
    ("eligible", ("started", "not_started", "unknown", "pending")),
)

LABELS = {
    "booked": N_("Bookede møder"), "held": N_("Afholdt"), "no_show": N_("Udeblevet"), "cancelled": N_("Aflyst"),
    "unrecorded": N_("Uden registreret udfald"),
    "presented": N_("Tilbud præsenteret"), "accepted": N_("Accepteret"), "declined": N_("Afvist"),
    "considering": N_("Overvejer"), "referred": N_("Henvist"),
    "eligible": N_("Accepteret eller henvist"), "started": N_("Startet"), "not_started": N_("Ikke startet"),
    "unknown": N_("Uvist"), "pending": N_("Ikke fulgt op"),
    "accepted_rate": N_("Andel accepteret"), "declined_rate": N_("Andel afvist"),
    "considering_rate": N_("Andel overvejer"), "referred_rate": N_("Andel henvist"),
    "started_rate": N_("Andel startet"), "not_started_rate": N_("Andel ikke startet"),
    "unknown_rate": N_("Andel uvist"),
}
GROUPING_LABELS = {"offer": N_("Tilbud"), "category": N_("Kategori"), "municipality": N_("Kommune"),
                   "month": N_("Måned")}


@dataclass(frozen=True)
class Cell:
    """A published figure: `value` is None when suppressed, or for a rate whose denominator is 0."""

    value: int | float | None
    is_suppressed: bool = False


@dataclass
class StatsRow:
    key: str
    label: str
    cells: dict[str, Cell]
    details: dict[str, str] = field(default_factory=dict)


@dataclass
class UptakeStatistics:
    start: date
    end: date
    municipality_codes: tuple[str, ...]
    threshold: int
    tables: dict[str, list[StatsRow]]  # grouping -> rows
    total: StatsRow

    @staticmethod
    def columns(group_by: str) -> tuple[str, ...]:
        """The figures a grouping shows: meetings only per municipality and month (a meeting has many offers)."""
        offer_columns = OFFER_COUNTS + OFFER_RATES
        return MEETING_COUNTS + offer_columns if group_by in ("municipality", "month") else offer_columns


# ---- who may see what


def statistics_scope(session: Session, *, user: User) -> list[Municipality]:
    """The municipalities whose figures this user may see; Forbidden for anyone but coordinators and admins."""
    query = select(Municipality).order_by(Municipality.code)
    if user.role == Role.admin:
        return list(session.exec(query))
    if user.role != Role.coordinator:
        raise Forbidden(N_("Kun koordinatorer og administratorer har adgang til statistik og udtræk"))
    if user.municipality_code:
        query = query.where(Municipality.code == user.municipality_code)
    elif user.region_code:
        query = query.where(Municipality.region_code == user.region_code)
    return list(session.exec(query))


def resolve_municipalities(session: Session, *, user: User, requested: Iterable[str]) -> list[str]:
    """The municipality codes asked for (all of the user's scope if none), each checked against the scope."""
    scope = [m.code for m in statistics_scope(session, user=user)]
    requested = sorted({code.strip() for code in requested if code.strip()})
    if not requested:
        return scope
    for code in requested:
        if code not in scope:
            if session.get(Municipality, code) is None:
                raise InvalidInput(N_("Ukendt kommune: %(code)s"), field="municipality", code=code)
            raise Forbidden(N_("Kommunen %(code)s ligger uden for dit område"), field="municipality", code=code)
    return requested


def check_period(start: date, end: date) -> None:
    if end < start:
        raise InvalidInput(N_("Slutdatoen ligger før startdatoen"), field="to")
    if len(months_between(start, end)) > MAX_MONTHS:
        raise InvalidInput(N_("Perioden må højst være %(months)s måneder"), field="from", months=MAX_MONTHS)


# ---- local months


def months_between(start: date, end: date) -> list[date]:
    """The first day of every local month the period touches."""
    months, month = [], date(start.year, start.month, 1)
    while month <= end:
        months.append(month)
        month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return months


def period_bounds(start: date, end: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[local midnight of `start`, local midnight after `end`) as aware UTC."""
    return day_start_utc(start, zone), day_start_utc(date.fromordinal(end.toordinal() + 1), zone)


def month_index(column, months: Sequence[date], zone: ZoneInfo):  # type: ignore[no-untyped-def]
    """SQL: which of `months` a UTC timestamp falls in, by local time. Boundaries are local midnights
    computed here and bound as UTC, so it is the same on SQLite and PostgreSQL and right at DST. The
    CASE is a balanced tree: a row takes log2(months) comparisons, not one per month."""
    bounds = [day_start_utc(month, zone) for month in months[1:]]  # bounds[i]: the start of month i + 1

    def tree(low: int, high: int):  # type: ignore[no-untyped-def]  # months low..high
        if low == high:
            return literal(low)
        middle = (low + high + 1) // 2
        return case((column < bounds[middle - 1], tree(low, middle - 1)), else_=tree(middle, high))

    return tree(0, len(months) - 1)


def month_key(month: date) -> str:
    return f"{month.year:04d}-{month.month:02d}"


# ---- counting in the database
#
# Each query groups by plain columns (offer, response, uptake; month, response, uptake; municipality,
# month, status, outcome) and only counts: cheaper per row than conditional sums, and the few
# hundred aggregated rows are turned into figures in Python.


def meeting_result(status: MeetingStatus, outcome: MeetingOutcome | None) -> str:
    """What became of a meeting: the recorded outcome wins, else its status; exactly one of
    held, no_show, cancelled (also cancelled late) or unrecorded."""
    if status == MeetingStatus.cancelled or outcome == MeetingOutcome.cancelled_late:
        return "cancelled"
    if outcome == MeetingOutcome.held or (outcome is None and status == MeetingStatus.held):
        return "held"
    if outcome == MeetingOutcome.no_show or (outcome is None and status == MeetingStatus.no_show):
        return "no_show"
    return "unrecorded"


def offer_figures(response: OfferResponse, uptake: UptakeStatus | None) -> tuple[str, ...]:
    """The counts one offer presented adds to: presented, its response, and for an accepted or
    referred offer eligible plus its uptake (pending until recorded)."""
    if response in (OfferResponse.accepted, OfferResponse.referred):
        return "presented", response.value, "eligible", uptake.value if uptake else "pending"
    return "presented", response.value


def _fast_aggregates(session: Session) -> None:
    # A one-off reporting query: PostgreSQL's JIT compilation costs more than it saves here.
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL jit = off"))


def uptake_statistics(session: Session, *, start: date, end: date, municipality_codes: Sequence[str],
                      zone: ZoneInfo, threshold: int) -> UptakeStatistics:
    """Every grouping's figures for meetings starting in [start, end] (local dates), suppressed together."""
    check_period(start, end)
    codes = tuple(sorted(set(municipality_codes)))
    months = months_between(start, end)
    month_keys = [month_key(m) for m in months]
    counts: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: dict.fromkeys(COUNTS, 0))
    for month in month_keys:
        counts["month", month]  # every month of the period is a row, even an empty one
    counts["total", ""]  # the total row exists even when nothing happened
    offers: dict[int, Offer] = {}
    if codes:
        start_at, end_at = period_bounds(start, end, zone)
        where = [Meeting.start_at >= start_at, Meeting.start_at < end_at, Meeting.municipality_code.in_(codes)]
        _fast_aggregates(session)
        # The month is computed in a subquery and grouped by name: PostgreSQL would not match two
        # copies of a CASE with bound parameters in SELECT and GROUP BY.
        meetings = select(Meeting.municipality_code.label("municipality"),
                          month_index(Meeting.start_at, months, zone).label("month"), Meeting.status,
                          Meeting.outcome).where(*where).subquery()
        for code, month, status, outcome, n in session.exec(
                select(meetings.c.municipality, meetings.c.month, meetings.c.status, meetings.c.outcome,
                       func.count()).group_by(meetings.c.municipality, meetings.c.month, meetings.c.status,
                                              meetings.c.outcome)):
            for key in (("municipality", code), ("month", month_keys[month]), ("total", "")):
                counts[key]["booked"] += n
                counts[key][meeting_result(status, outcome)] += n

        presented = select(OfferPresentation.offer_id, OfferPresentation.response, OfferPresentation.uptake,
                           func.count()).join(Meeting, Meeting.id == OfferPresentation.meeting_id).where(*where) \
            .group_by(OfferPresentation.offer_id, OfferPresentation.response, OfferPresentation.uptake)
        per_offer = list(session.exec(presented))
        ids = {offer_id for offer_id, *_ in per_offer}
        offers = {o.id: o for o in session.exec(select(Offer).where(Offer.id.in_(ids)))} if ids else {}
        for offer_id, response, uptake, n in per_offer:
            row = counts["offer", _offer_key(offers[offer_id])]
            for name in offer_figures(response, uptake):
                row[name] += n
        # An offer counts for its own municipality (recording keeps offers to the patient's
        # municipality), so a municipality's offer figures are the sum of its offers' rows.
        for offer in offers.values():
            row = counts["offer", _offer_key(offer)]
            for key in (("category", offer.category), ("municipality", offer.municipality_code), ("total", "")):
                target = counts[key]
                for name in OFFER_COUNTS:
                    target[name] += row[name]

        by_month = select(month_index(Meeting.start_at, months, zone).label("month"), OfferPresentation.response,
                          OfferPresentation.uptake).join(Meeting, Meeting.id == OfferPresentation.meeting_id) \
            .where(*where).subquery()
        for month, response, uptake, n in session.exec(
                select(by_month.c.month, by_month.c.response, by_month.c.uptake, func.count())
                .group_by(by_month.c.month, by_month.c.response, by_month.c.uptake)):
            for name in offer_figures(response, uptake):
                counts["month", month_keys[month]][name] += n

    municipalities = sorted(key for table, key in counts if table == "municipality")
    names = {m.code: m.name for m in session.exec(select(Municipality).where(Municipality.code.in_(municipalities)))} \
        if municipalities else {}
    return _publish(counts, start=start, end=end, codes=codes, threshold=threshold, names=names,
                    offers={_offer_key(o): o for o in offers.values()}, months=month_keys,
                    municipalities=municipalities)


def _offer_key(offer: Offer) -> str:
    return f"{offer.municipality_code}/{offer.code}"


# ---- suppression and the published tables

_OFFER_PATTERNS = minimal_patterns(OFFER_COUNTS, ROW_SUMS[1:])
_MEETING_PATTERNS = minimal_patterns(MEETING_COUNTS, ROW_SUMS[:1])
Rows = list[tuple[str, str, int]]  # (table, key, sign): where a row pattern is laid, added or taken away


class _Shape:
    """How the published tables hang together: every sum a reader could use, and the perturbations
    that keep them all true (the candidates for protecting a small count)."""

    def __init__(self, counts: dict[tuple[str, str], dict[str, int]], offers: dict[str, Offer]):
        self.rows_of: dict[str, list[str]] = defaultdict(list)
        for table, key in counts:
            self.rows_of[table].append(key)
        self.offers = sorted(offers)
        self.category = {key: offer.category for key, offer in offers.items()}
        self.municipality = {key: offer.municipality_code for key, offer in offers.items()}
        self.by_category: dict[str, list[str]] = defaultdict(list)
        self.by_municipality: dict[str, list[str]] = defaultdict(list)
        for key in self.offers:
            self.by_category[self.category[key]].append(key)
            self.by_municipality[self.municipality[key]].append(key)
        self._partners: dict[str, list[str]] = {}

    def sums(self) -> list[Sum]:
        sums: list[Sum] = []
        for table, keys in self.rows_of.items():
            for key in keys:
                for total, parts in ROW_SUMS:
                    if table in ("offer", "category") and total == "booked":
                        continue
                    sums.append(Sum((table, key, total), tuple((table, key, p) for p in parts)))
        # The total over the offers, and over the municipalities' offer figures, follow from the sums
        # below (offers add up to categories and municipalities, categories to the total); left out,
        # they would only make the exact check slower.
        for table, names in (("category", OFFER_COUNTS), ("municipality", MEETING_COUNTS), ("month", COUNTS)):
            for name in names:
                sums.append(Sum(("total", "", name), tuple((table, key, name) for key in self.rows_of[table])))
        for name in OFFER_COUNTS:
            for group, members in (("category", self.by_category), ("municipality", self.by_municipality)):
                for key, offers in members.items():
                    sums.append(Sum((group, key, name), tuple(("offer", k, name) for k in offers)))
        return sums

    # A perturbation is a row pattern (a +-1 change within one row that keeps the row's sums) laid
    # on a set of rows with signs chosen so that every sum between the tables still holds. The
    # cheapest for a cell is found by adding up, per row, what the pattern would newly hide there.

    def protect(self, cell: tuple[str, str, str], hidden: set[Hashable], primary: set[Hashable],
                values: dict[Hashable, int]) -> list[Hashable] | None:
        table, key, name = cell
        is_meeting = name in MEETING_COUNTS
        patterns = _MEETING_PATTERNS[name] if is_meeting else _OFFER_PATTERNS[name]
        row_costs: dict[tuple[str, str, int, int], tuple[int, int, int, bool, bool]] = {}

        def row_cost(t: str, k: str, index: int, sign: int) -> tuple[int, int, int, bool, bool]:
            """(cells newly hidden, zeros among them, their sum, feasible upwards, feasible downwards)."""
            found = row_costs.get((t, k, index, sign))
            if found is None:
                new = zeros = count = 0
                up = down = True
                for metric, change in patterns[index].items():
                    c = (t, k, metric)
                    if c not in hidden and c not in primary:  # a hidden total weighs double: it is read most
                        new, zeros, count = new + 1 + (t == "total"), zeros + (values[c] == 0), count + values[c]
                    if values[c] < 1:  # a zero can only go up
                        up, down = up and sign * change > 0, down and sign * change < 0
                found = row_costs[t, k, index, sign] = (new, zeros, count, up, down)
            return found

        # Fewest cells newly hidden, then fewest zeros among them (a hidden zero next to a 1 only
        # leaves "0 or 1"), then the smallest values (least information lost). The cell's own row is
        # in every candidate, so a pattern costing more there than the best so far is skipped.
        own = [row_cost(table, key, index, 1)[:3] for index in range(len(patterns))]
        best, best_cost = None, None
        for rows in self._row_sets(table, key, is_meeting):
            for index in range(len(patterns)):
                if best_cost is not None and own[index] >= best_cost:
                    continue
                new = zeros = count = 0
                up = down = True
                for t, k, sign in rows:
                    n, z, v, u, d = row_cost(t, k, index, sign)
                    new, zeros, count, up, down = new + n, zeros + z, count + v, up and u, down and d
                if (up or down) and (best_cost is None or (new, zeros, count) < best_cost):
                    best, best_cost = (rows, index), (new, zeros, count)
            if best_cost is not None and best_cost[0] == 0:
                break
        if best is None:
            return None
        rows, index = best
        return [(t, k, metric) for t, k, _ in rows for metric in patterns[index]]

    def _offer_rows(self, offer: str, sign: int = 1) -> Rows:
        return [("offer", offer, sign), ("category", self.category[offer], sign),
                ("municipality", self.municipality[offer], sign)]

    def partners(self, offer: str) -> list[str]:
        """Offers to pair with: same category and municipality first (two rows change), then same
        category or same municipality (four rows), then a few others (six)."""
        if offer not in self._partners:
            category, municipality = self.category[offer], self.municipality[offer]
            same_category = [k for k in self.by_category[category] if k != offer]
            both = [k for k in same_category if self.municipality[k] == municipality]
            one = ([k for k in same_category if self.municipality[k] != municipality][:PARTNERS]
                   + [k for k in self.by_municipality[municipality] if self.category[k] != category][:PARTNERS])
            others = itertools.islice((k for k in self.offers if self.category[k] != category
                                       and self.municipality[k] != municipality), PARTNERS // 3)
            self._partners[offer] = both + one + list(others)
        return self._partners[offer]

    def _offer_pairs(self, offers: Iterable[str], exclude: set[str]) -> Iterator[Rows]:
        """+ on one offer, - on another; rows met twice cancel out."""
        for offer in itertools.islice(offers, PARTNERS):
            for other in self.partners(offer):
                if other in exclude:
                    continue
                net: dict[tuple[str, str], int] = defaultdict(int)
                for t, k, sign in self._offer_rows(offer) + self._offer_rows(other, -1):
                    net[t, k] += sign
                yield [(t, k, sign) for (t, k), sign in net.items() if sign]

    def _vertical(self, is_meeting: bool, *, offer: str | None = None, municipality: str | None = None,
                  month: str | None = None) -> Iterator[Rows]:
        """+ on a row and on everything above it up to the total, through one month (and one offer)."""
        for m in [month] if month else self.rows_of["month"]:
            if is_meeting:
                for code in [municipality] if municipality else self.rows_of["municipality"]:
                    yield [("total", "", 1), ("month", m, 1), ("municipality", code, 1)]
            else:
                for key in [offer] if offer else self.offers[:PARTNERS]:
                    yield [("total", "", 1), ("month", m, 1), *self._offer_rows(key)]

    def _row_sets(self, table: str, key: str, is_meeting: bool) -> Iterator[Rows]:
        if table == "month":
            for other in self.rows_of["month"]:
                if other != key:
                    yield [("month", key, 1), ("month", other, -1)]
            yield from self._vertical(is_meeting, month=key)
        elif table == "total":
            yield from self._vertical(is_meeting)
        elif table == "municipality" and is_meeting:
            for other in self.rows_of["municipality"]:
                if other != key:
                    yield [("municipality", key, 1), ("municipality", other, -1)]
            yield from self._vertical(True, municipality=key)
        elif table in ("municipality", "category"):
            members = (self.by_municipality if table == "municipality" else self.by_category)[key]
            yield from self._offer_pairs(members, exclude=set(members))
            for offer in members[:PARTNERS]:
                yield from self._vertical(False, offer=offer)
        elif table == "offer":
            yield from self._offer_pairs([key], exclude={key})
            yield from self._vertical(False, offer=key)


def _publish(counts: dict[tuple[str, str], dict[str, int]], *, start: date, end: date, codes: tuple[str, ...],
             threshold: int, names: dict[str, str], offers: dict[str, Offer], months: list[str],
             municipalities: list[str]) -> UptakeStatistics:
    values: dict[Hashable, int] = {}
    for (table, key), row in counts.items():
        for name in (OFFER_COUNTS if table in ("offer", "category") else COUNTS):
            values[table, key, name] = row[name]
    shape = _Shape(counts, offers)
    hidden = suppress(values, shape.sums(), threshold=threshold,
                      protect=lambda cell, hidden, primary: shape.protect(cell, hidden, primary, values))

    def row(table: str, key: str, label: str, details: dict[str, str] | None = None) -> StatsRow:
        data = counts[table, key]
        cells: dict[str, Cell] = {}
        for name in (OFFER_COUNTS if table in ("offer", "category") else COUNTS):
            is_hidden = (table, key, name) in hidden
            cells[name] = Cell(None if is_hidden else data[name], is_hidden)
        for rate, (numerator, denominator) in RATES.items():
            if cells[numerator].is_suppressed or cells[denominator].is_suppressed:
                cells[rate] = Cell(None, True)
            else:
                cells[rate] = Cell(data[numerator] / data[denominator] if data[denominator] else None)
        return StatsRow(key=key, label=label, cells=cells, details=details or {})

    offer_rows = [row("offer", key, o.name, {"municipality_code": o.municipality_code, "offer_code": o.code,
                                             "category": o.category})
                  for key, o in sorted(offers.items(), key=lambda item: (item[1].municipality_code, item[1].code))]
    tables = {
        "offer": offer_rows,
        "category": [row("category", c, CATEGORIES.get(c, c)) for c in sorted({o.category for o in offers.values()})],
        "municipality": [row("municipality", code, names.get(code, code)) for code in municipalities],
        "month": [row("month", m, m) for m in months],
    }
    return UptakeStatistics(start=start, end=end, municipality_codes=codes, threshold=threshold, tables=tables,
                            total=row("total", "", ""))
