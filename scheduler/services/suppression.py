"""Small-count suppression for published tables: hide counts below the threshold, and enough
other cells that no hidden count can be worked out again from the sums the tables show.

A table is a set of cells (any hashable id -> count) and the sums that hold between them
(`Sum(total, parts)`: a row's total and its parts, a column over the rows, a category over its
offers). Primary suppression hides every count with 0 < count < threshold. Secondary
suppression protects each of them with a *perturbation*: a change of +-1 on a set of cells that
keeps every sum true and every count >= 0 (a "rectangle" in a plain two-way table). Hiding all
its cells leaves a reader two equally possible tables, so none of those cells can be
recomputed. The caller knows the shape of its tables and picks, for each small count, the
perturbation that hides fewest extra cells (`protect`). Finally an exact check (linear algebra
over the sums) confirms that no hidden cell is determined, and hides more cells greedily if one is.
"""
from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

# Rank over GF(p) for a large prime: a cell recoverable over the rationals is also found here
# (the reverse, a spurious find, only hides one cell more), and it avoids fraction growth.
_PRIME = (1 << 61) - 1


@dataclass(frozen=True)
class Sum:
    """`total` == sum of `parts`, as the published tables show it."""

    total: Hashable
    parts: tuple[Hashable, ...]

    @property
    def cells(self) -> tuple[Hashable, ...]:
        return (self.total, *self.parts)


Protect = Callable[[Hashable, set[Hashable], set[Hashable]], Iterable[Hashable] | None]


def suppress(values: Mapping[Hashable, int], sums: Iterable[Sum], *, threshold: int,
             protect: Protect | None = None) -> set[Hashable]:
    """The cells to hide: every count 1..threshold-1, and complements so that none can be recomputed.

    `protect(cell, hidden, primary)` proposes the cells of a feasible perturbation through `cell`
    (cheapest given what is hidden already), or None; see the module docstring."""
    if threshold < 1:
        raise ValueError("threshold must be at least 1")
    sums = [s for s in sums if s.parts and all(c in values for c in s.cells)]
    primary = {cell for cell, value in values.items() if 0 < value < threshold}
    state = _State(values, sums)
    if protect is not None:
        protected: set[Hashable] = set()
        for cell in sorted(primary, key=repr):
            if cell in protected:
                continue
            cells = protect(cell, state.hidden, primary)
            if cells is not None:
                for other in cells:
                    state.hide(other)
                    protected.add(other)
    for cell in primary:
        state.hide(cell)
    # The safety net: whatever the proposals missed (or a caller without them) is closed greedily.
    while True:
        state.protect_lone_cells()
        exposed = recoverable(state.hidden, state.sums_with_hidden())
        if not exposed:
            return state.hidden
        # One complement at a time: it often protects the other exposed cells as well.
        for cell in sorted(exposed, key=repr):
            complement = state.complement(state.sums_of[cell])
            if complement is not None:
                state.hide(complement)
                break
        else:
            # Every sum around the exposed cells is hidden whole; such a cell can only be a hidden
            # zero complement (true sums never force a count of 1 or more when all are unknown).
            return state.hidden


def minimal_patterns(names: Sequence[str], equations: Sequence[tuple[str, Sequence[str]]],
                     max_size: int = 5) -> dict[str, list[dict[str, int]]]:
    """For each name, the smallest +-1 changes within one row that keep the row's sums true
    (e.g. one more accepted and one fewer referred), with that name changed by +1."""
    def keeps_sums(p: dict[str, int]) -> bool:
        return all(p.get(total, 0) == sum(p.get(part, 0) for part in parts) for total, parts in equations)

    found: list[dict[str, int]] = []
    for size in range(1, max_size + 1):
        for combo in itertools.combinations(names, size):
            for signs in itertools.product((1, -1), repeat=size - 1):
                p = dict(zip(combo, (1, *signs)))
                if keeps_sums(p) and not any(set(q) < set(p) for q in found):
                    found.append(p)
    return {name: [{k: v * p[name] for k, v in p.items()} for p in found if name in p] for name in names}


class _State:
    def __init__(self, values: Mapping[Hashable, int], sums: list[Sum]):
        self.values = values
        self.sums = sums
        self.hidden: set[Hashable] = set()
        self.hidden_in = [0] * len(sums)  # hidden cells per sum
        self.sums_of: dict[Hashable, list[int]] = defaultdict(list)
        for i, s in enumerate(sums):
            for cell in s.cells:
                self.sums_of[cell].append(i)
        self.pending: list[int] = []

    def sums_with_hidden(self) -> list[Sum]:
        """The sums holding a hidden cell, in their order: the others give a reader no equation."""
        return [self.sums[i] for i, n in enumerate(self.hidden_in) if n]

    def hide(self, cell: Hashable) -> None:
        if cell in self.hidden:
            return
        self.hidden.add(cell)
        for i in self.sums_of[cell]:
            self.hidden_in[i] += 1
            self.pending.append(i)

    def protect_lone_cells(self) -> None:
        """Until no sum has exactly one hidden cell (which the sum would give away), hide a complement."""
        while self.pending:
            i = self.pending.pop()
            if self.hidden_in[i] == 1:
                complement = self.complement([i])
                if complement is not None:
                    self.hide(complement)

    def complement(self, sum_indexes: list[int]) -> Hashable | None:
        """The cell of one of these sums to hide next: a part before a total (hiding a total spreads
        upwards), a non-zero before a zero (hiding a zero next to a 1 leaves only "0 or 1"), one that
        leaves fewest other sums with a lone hidden cell, then the smallest (least information lost)."""
        best, best_cost = None, None
        for i in sum_indexes:
            s = self.sums[i]
            for cell in s.cells:
                if cell in self.hidden:
                    continue
                newly_lone = sum(1 for j in self.sums_of[cell] if j != i and self.hidden_in[j] == 0)
                value = self.values[cell]
                cost = (cell == s.total, value == 0, newly_lone, value, repr(cell))
                if best_cost is None or cost < best_cost:
                    best, best_cost = cell, cost
        return best


def recoverable(hidden: set[Hashable], sums: Iterable[Sum]) -> set[Hashable]:
    """The hidden cells whose value follows from the visible cells and the sums."""
    index = {cell: i for i, cell in enumerate(sorted(hidden, key=repr))}
    parent = list(range(len(index)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    equations: list[dict[int, int]] = []
    for s in sums:
        row: dict[int, int] = {}
        for cell, coefficient in ((s.total, 1), *((p, -1) for p in s.parts)):
            if cell in index:
                row[index[cell]] = (row.get(index[cell], 0) + coefficient) % _PRIME
        row = {k: v for k, v in row.items() if v}
        if row:
            equations.append(row)
            first, *rest = row
            for other in rest:
                parent[find(other)] = find(first)
    by_component: dict[int, list[dict[int, int]]] = defaultdict(list)
    for row in equations:
        by_component[find(next(iter(row)))].append(row)
    cells = list(index)
    found: set[Hashable] = set()
    for rows in by_component.values():
        found |= {cells[i] for i in _determined(rows)}
    return found


def _determined(rows: list[dict[int, int]]) -> set[int]:
    """Unknowns fixed by these linear equations: reduced row echelon form over GF(p), sparse."""
    pivots: dict[int, dict[int, int]] = {}  # pivot column -> its row, 1 at the pivot, 0 at other pivots
    # column -> the pivots whose row holds it: a new pivot is cleared from those rows only, not
    # looked for in every row (with thousands of hidden cells that search was most of the time).
    holding: dict[int, set[int]] = defaultdict(set)
    for original in rows:
        row = dict(original)
        for column in [c for c in row if c in pivots]:
            factor = row.get(column)
            if factor:
                _subtract(row, pivots[column], factor)
        if not row:
            continue
        column = min(row)
        inverse = pow(row[column], _PRIME - 2, _PRIME)
        row = {k: v * inverse % _PRIME for k, v in row.items()}
        for pivot in list(holding[column]):
            _subtract(pivots[pivot], row, pivots[pivot][column], pivot=pivot, holding=holding)
        pivots[column] = row
        for k in row:
            holding[k].add(column)
    return {column for column, row in pivots.items() if len(row) == 1}


def _subtract(row: dict[int, int], other: dict[int, int], factor: int, *, pivot: int | None = None,
              holding: dict[int, set[int]] | None = None) -> None:
    """row -= factor * other; for a pivot's row, `holding` follows the columns it gains and loses."""
    for k, v in other.items():
        value = (row.get(k, 0) - factor * v) % _PRIME
        if value:
            if holding is not None and k not in row:
                holding[k].add(pivot)
            row[k] = value
        elif k in row:
            del row[k]
            if holding is not None:
                holding[k].discard(pivot)
