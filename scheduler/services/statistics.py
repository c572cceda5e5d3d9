"""Uptake statistics for coordinators: meetings, offers presented, responses and uptake per offer,
category, municipality and month, with small counts suppressed.

The database does the counting: meetings and offers from their monthly totals
(statistics_summary), plus the few rows where a local month or the period does not line up with
a UTC month. Python only adds up those aggregated rows into the
four published tables and the total. The four tables are suppressed together, as
one system of sums, so that fetching one grouping after another for the same filter never gives
away a hidden count.
"""
from __future__ import annotations

import itertools
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, literal, or_, text
from sqlalchemy.sql import operators
from sqlalchemy.sql.expression import UnaryExpression
from sqlmodel import Session, select

from ..errors import N_, Forbidden, InvalidInput
from ..models import (Meeting, MeetingMonthTotals, Municipality, Offer, OfferMonthTotals, OfferPresentation, Role,
                      User)
from .offers import CATEGORIES
from .reference import find_municipality
from .statistics_summary import MEETING_COUNTS, OFFER_COUNTS, meeting_result, offer_figures, utc_month
from .statistics_summary import RESPONSE_COUNTS, UPTAKE_COUNTS  # noqa: F401  (the dashboard's column groups)
from .suppression import Sum, minimal_patterns, suppress
from .timeutil import day_start_utc

GROUPINGS = ("offer", "category", "municipality", "month")
MAX_MONTHS = 120  # ten years is more than any evaluation needs, and keeps the month CASE small
PARTNERS = 8  # offers tried per kind of partner when protecting a count (the likely cheapest first)

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


_HIDDEN = Cell(None, True)
_NO_RATE = Cell(None)


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
            if find_municipality(session, code) is None:
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


def interval_index(column, bounds: Sequence[datetime]):  # type: ignore[no-untyped-def]
    """SQL: how many of the sorted `bounds` are <= the value (0 before the first). The CASE is a
    balanced tree: a row takes log2(bounds) comparisons, not one per bound."""

    def tree(low: int, high: int):  # type: ignore[no-untyped-def]  # answers low..high
        if low == high:
            return literal(low)
        middle = (low + high + 1) // 2
        return case((column < bounds[middle - 1], tree(low, middle - 1)), else_=tree(middle, high))

    return tree(0, len(bounds))


def month_key(month: date) -> str:
    return f"{month.year:04d}-{month.month:02d}"


# ---- counting in the database
#
# Each query groups by plain columns (offer, response, uptake; month, response, uptake; municipality,
# month, status, outcome) and only counts: cheaper per row than conditional sums, and the few
# hundred aggregated rows are turned into figures in Python.


@dataclass(frozen=True)
class _Segment:
    """A stretch of time that the monthly totals count for another local month than its own."""

    start_at: datetime
    end_at: datetime
    month: int | None  # its local month in the period (None: outside the period)
    counted_as: int | None  # the local month its UTC month's totals go to (None: not used)


def _month_plan(bounds: list[datetime]) -> tuple[dict[date, int], list[_Segment]]:
    """How the totals serve a period whose local months start at `bounds` (the period's end last).

    Each UTC month whose middle lies in the period goes whole to the local month holding that
    middle; the rows of the stretches where that is wrong (a few hours at each month's edge, up to
    half a month at the period's ends) are added to their own month and taken from the other."""
    def local_month(at: datetime) -> int | None:
        i = bisect_right(bounds, at) - 1
        return i if 0 <= i < len(bounds) - 1 else None

    starts = [datetime(bounds[0].year, bounds[0].month, 1, tzinfo=UTC)]
    while starts[-1] < bounds[-1]:
        previous = starts[-1]
        starts.append(datetime(previous.year + previous.month // 12, previous.month % 12 + 1, 1, tzinfo=UTC))
    used = {utc_month(u): month for u, following in zip(starts, starts[1:])
            if (month := local_month(u + (following - u) / 2)) is not None}
    cuts = sorted(set(bounds) | set(starts))
    segments = []
    for start_at, end_at in zip(cuts, cuts[1:]):
        month, counted_as = local_month(start_at), used.get(utc_month(start_at))
        if month != counted_as:
            segments.append(_Segment(start_at, end_at, month, counted_as))
    return used, segments


def _from_totals(session: Session, *, table, by, names: tuple[str, ...],  # type: ignore[no-untyped-def]
                 used: dict[date, int], codes: Sequence[str], per_group: dict, per_month: list[dict[str, int]]) -> None:
    """Add the monthly totals of the UTC months used to their group (`by`) and to their local month."""
    if not used:
        return
    where = [table.month >= min(used), table.month <= max(used), table.municipality_code.in_(codes)]
    sums = [func.sum(getattr(table, name)) for name in names]
    for group, *values in session.exec(select(by, *sums).where(*where).group_by(by)):
        row = per_group[group]
        for name, value in zip(names, values):
            row[name] += value
    for month, *values in session.exec(select(table.month, *sums).where(*where).group_by(table.month)):
        row = per_month[used[month]]
        for name, value in zip(names, values):
            row[name] += value


def _in_segments(session: Session, segments: list[_Segment], codes: Sequence[str]):  # type: ignore[no-untyped-def]
    """SQL: which segment a meeting starts in (1-based; see _month_plan), and the condition that it
    does and is one of these municipalities'."""
    index = interval_index(Meeting.start_at, [segment.start_at for segment in segments]).label("segment")
    municipality = Meeting.municipality_code
    if session.get_bind().dialect.name == "sqlite":
        # The segments are short, and the start-time index finds their meetings at once. Without
        # range statistics SQLite's planner prefers the municipality index for one or a few codes
        # and reads every meeting the municipality ever had (0.4 s for København over ten years);
        # a unary + keeps it from using that index for this condition.
        municipality = UnaryExpression(municipality.expression, operator=operators.custom_op("+"),
                                       type_=municipality.type)
    return index, and_(municipality.in_(codes),
                       or_(*(and_(Meeting.start_at >= s.start_at, Meeting.start_at < s.end_at) for s in segments)))


def _meeting_counts(session: Session, *, bounds: list[datetime], codes: Sequence[str],
                    ) -> tuple[dict[str, dict[str, int]], list[dict[str, int]]]:
    """MEETING_COUNTS per municipality and per local month for the meetings starting in [bounds[0], bounds[-1])."""
    return _counts(session, bounds=bounds, codes=codes, table=MeetingMonthTotals,
                   by=MeetingMonthTotals.municipality_code, names=MEETING_COUNTS,
                   rows=select(Meeting.municipality_code, Meeting.status, Meeting.outcome),
                   figures=lambda status, outcome: ("booked", meeting_result(status, outcome)))


def _offer_counts(session: Session, *, bounds: list[datetime], codes: Sequence[str],
                  ) -> tuple[dict[int, dict[str, int]], list[dict[str, int]]]:
    """OFFER_COUNTS per offer id and per local month for the meetings starting in [bounds[0], bounds[-1])."""
    rows = select(OfferPresentation.offer_id, OfferPresentation.response, OfferPresentation.uptake) \
        .join(Meeting, Meeting.id == OfferPresentation.meeting_id)
    return _counts(session, bounds=bounds, codes=codes, table=OfferMonthTotals, by=OfferMonthTotals.offer_id,
                   names=OFFER_COUNTS, rows=rows, figures=offer_figures)


def _counts(session: Session, *, bounds: list[datetime], codes: Sequence[str],  # type: ignore[no-untyped-def]
            table, by, names: tuple[str, ...], rows, figures) -> tuple[dict, list[dict[str, int]]]:
    """`names` per group (`by`) and per local month: the monthly totals, corrected by the rows (`rows`: the
    group, then what `figures` turns into the names a row counts for) of the stretches they misplace."""
    per_group: dict = defaultdict(lambda: dict.fromkeys(names, 0))
    per_month = [dict.fromkeys(names, 0) for _ in bounds[1:]]
    used, segments = _month_plan(bounds)
    _from_totals(session, table=table, by=by, names=names, used=used, codes=codes, per_group=per_group,
                 per_month=per_month)
    if segments:
        index, inside = _in_segments(session, segments, codes)
        found = rows.add_columns(index).where(inside).subquery()
        columns = [c for c in found.c if c.name != "segment"]
        for segment_index, group, *values, n in session.exec(
                select(found.c.segment, *columns, func.count()).group_by(found.c.segment, *columns)):
            _correct(segments[segment_index - 1], per_group[group], per_month, figures(*values), n)
    return {k: v for k, v in per_group.items() if any(v.values())}, per_month


def _correct(segment: _Segment, group: dict[str, int], per_month: list[dict[str, int]], names: Iterable[str],
             n: int) -> None:
    """Rows of a segment the totals count for the wrong local month: to their own month, from the other."""
    sign = (segment.month is not None) - (segment.counted_as is not None)
    for name in names:
        group[name] += sign * n
        if segment.month is not None:
            per_month[segment.month][name] += n
        if segment.counted_as is not None:
            per_month[segment.counted_as][name] -= n


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
        _fast_aggregates(session)
        bounds = [start_at, *(day_start_utc(m, zone) for m in months[1:]), end_at]
        per_municipality, meetings_per_month = _meeting_counts(session, bounds=bounds, codes=codes)
        for code, figures in per_municipality.items():
            for key in (("municipality", code), ("total", "")):
                for name in MEETING_COUNTS:
                    counts[key][name] += figures[name]
        for month, figures in zip(month_keys, meetings_per_month):
            for name in MEETING_COUNTS:
                counts["month", month][name] += figures[name]

        per_offer, per_month = _offer_counts(session, bounds=bounds, codes=codes)
        offers = {o.id: o for o in session.exec(select(Offer).where(Offer.id.in_(per_offer)))} if per_offer else {}
        for offer_id, figures in per_offer.items():
            row = counts["offer", _offer_key(offers[offer_id])]
            for name in OFFER_COUNTS:
                row[name] += figures[name]
        # An offer counts for its own municipality (recording keeps offers to the patient's
        # municipality), so a municipality's offer figures are the sum of its offers' rows.
        for offer in offers.values():
            row = counts["offer", _offer_key(offer)]
            for key in (("category", offer.category), ("municipality", offer.municipality_code), ("total", "")):
                target = counts[key]
                for name in OFFER_COUNTS:
                    target[name] += row[name]
        for month, figures in zip(month_keys, per_month):
            for name in OFFER_COUNTS:
                counts["month", month][name] += figures[name]

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


def _row_cost(pattern: dict[str, int], row: tuple[str, str, int], hidden: set[Hashable], primary: set[Hashable],
              values: dict[Hashable, int]) -> tuple[int, int, int, bool, bool]:
    """Laying a row pattern on (table, key, sign): (cells newly hidden, zeros among them, their sum,
    feasible upwards, feasible downwards)."""
    t, k, sign = row
    new = zeros = count = 0
    up = down = True
    for metric, change in pattern.items():
        c = (t, k, metric)
        if c not in hidden and c not in primary:  # a hidden total weighs double: it is read most
            new, zeros, count = new + 1 + (t == "total"), zeros + (values[c] == 0), count + values[c]
        if values[c] < 1:  # a zero can only go up
            up, down = up and sign * change > 0, down and sign * change < 0
    return new, zeros, count, up, down


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
        self._pairs: dict[tuple[str, str], Rows] = {}

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
        # Per pattern, what laying it on a row costs (see _row_cost): the same rows recur in many candidates.
        row_costs: list[dict[tuple[str, str, int], tuple[int, int, int, bool, bool]]] = [{} for _ in patterns]
        for index, pattern in enumerate(patterns):
            row_costs[index][table, key, 1] = _row_cost(pattern, (table, key, 1), hidden, primary, values)

        # Fewest cells newly hidden, then fewest zeros among them (a hidden zero next to a 1 only
        # leaves "0 or 1"), then the smallest values (least information lost). The cell's own row is
        # in every candidate, so a pattern costing more there than the best so far is skipped.
        own = [costs[table, key, 1][:3] for costs in row_costs]
        best, best_cost = None, None
        for rows in self._row_sets(table, key, is_meeting):
            for index, costs in enumerate(row_costs):
                if best_cost is not None and own[index] >= best_cost:
                    continue
                new = zeros = count = 0
                up = down = True
                for row in rows:
                    found = costs.get(row)
                    if found is None:
                        found = costs[row] = _row_cost(patterns[index], row, hidden, primary, values)
                    n, z, v, u, d = found
                    new, zeros, count, up, down = new + n, zeros + z, count + v, up and u, down and d
                    # Given up as soon as it cannot win: newly hidden cells only add up, and a row
                    # that cannot take the change in either direction rules the candidate out.
                    if not (up or down) or (best_cost is not None and new > best_cost[0]):
                        break
                else:
                    if best_cost is None or (new, zeros, count) < best_cost:
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
                pair = self._pairs.get((offer, other))
                if pair is None:  # the same pairs come up again for every small count of these offers
                    net: dict[tuple[str, str], int] = defaultdict(int)
                    for t, k, sign in self._offer_rows(offer) + self._offer_rows(other, -1):
                        net[t, k] += sign
                    pair = self._pairs[offer, other] = [(t, k, sign) for (t, k), sign in net.items() if sign]
                yield pair

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

    # Cells are immutable, so equal ones are shared: the tables hold tens of thousands, and each
    # long-lived object makes the garbage collector's full passes come sooner.
    shown: dict[int, Cell] = {}

    def row(table: str, key: str, label: str, details: dict[str, str] | None = None) -> StatsRow:
        data = counts[table, key]
        cells: dict[str, Cell] = {}
        for name in (OFFER_COUNTS if table in ("offer", "category") else COUNTS):
            if (table, key, name) in hidden:
                cells[name] = _HIDDEN
            else:
                value = data[name]
                cells[name] = shown.get(value) or shown.setdefault(value, Cell(value))
        for rate, (numerator, denominator) in RATES.items():
            if cells[numerator].is_suppressed or cells[denominator].is_suppressed:
                cells[rate] = _HIDDEN
            else:
                cells[rate] = Cell(data[numerator] / data[denominator]) if data[denominator] else _NO_RATE
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
