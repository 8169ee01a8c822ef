"""Spider's result equality (the test-suite evaluator's `result_eq`) without enumerating permutations.

The official rule: two results are equal if both are empty, or they have as many
rows and columns and some permutation of the prediction's columns makes its rows
the gold's rows, as a list when order matters and as a multiset otherwise.
Before that search the official code applies a "quick rejection": the rows with
their values sorted by `str(value) + str(type(value))` must agree (as a list, or
as a *set* when order does not matter). That check is not implied by the rule
(it rejects [(1, 1.5)] against [(1.0, 1.5)]), so it is kept as is.

The official search enumerates candidate permutations, exponential in the
number of interchangeable columns (a 10-column gold of equal-valued columns
took 34 s). Here instead:
- order matters: column j can replace column i only if their value lists are
  equal, so a permutation exists iff the two multisets of column vectors agree;
- otherwise columns (and rows) are coloured by signatures every valid
  permutation preserves: the multiset of a column's values, refined
  (a row's colour is the bag of (column colour, value) in it, a column's the
  bag of (row colour, value) down it) until stable, then, for columns still
  alike, the multisets of value pairs each forms with every other column.
  Only columns still alike after that are searched, graph-isomorphism style:
  one gold column is pinned to each candidate in turn (identical column
  vectors tried once) and everything refined again, so a wrong choice dies
  as soon as the colour counts differ. A `budget_s` bounds what remains
  (docs/evaluation.md lists which cases can still reach it).
"""

from __future__ import annotations

import itertools
import math
import time
from collections import Counter

# rows x columns^2 up to which columns left alike by refinement get pair signatures (a second or so at most)
_PAIR_SIGNATURE_CELLS = 8_000_000
# column mappings (products of class-size factorials) tried outright before refining: refinement interns a
# signature per row, slow on a million rows, while a handful of whole-row checks is not
_ENUMERATE_UP_TO = 6


class CompareBudgetExceeded(Exception):
    """A comparison ran past its `budget_s`: the caller scores it wrong and counts it."""


def _unorder_row(row: tuple) -> tuple:
    return tuple(sorted(row, key=lambda x: str(x) + str(type(x))))


def _quick_rejects(gold: list[tuple], pred: list[tuple], order_matters: bool) -> bool:
    g = [_unorder_row(r) for r in gold]
    p = [_unorder_row(r) for r in pred]
    return g != p if order_matters else set(g) != set(p)


class _Clock:
    def __init__(self, budget_s: float | None):
        self.deadline = None if budget_s is None else time.monotonic() + budget_s
        self.budget_s = budget_s

    def check(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise CompareBudgetExceeded(f"result comparison took over {self.budget_s:g} s")


def spider_result_eq(gold: list[tuple], pred: list[tuple], order_matters: bool,
                     budget_s: float | None = None) -> bool:
    """The official `result_eq(gold, pred, order_matters)`; raises CompareBudgetExceeded past `budget_s`."""
    if not gold and not pred:
        return True
    if len(gold) != len(pred):
        return False
    n_cols = len(gold[0])
    if len(pred[0]) != n_cols:
        return False
    clock = _Clock(budget_s)
    if _quick_rejects(gold, pred, order_matters):
        return False
    if order_matters:
        return gold == pred or Counter(zip(*gold)) == Counter(zip(*pred))
    if Counter(gold) == Counter(pred):  # the identity permutation: most correct predictions
        return True
    if n_cols == 1:
        return False
    clock.check()
    return _permutation_exists(gold, pred, n_cols, clock)


def _permutation_exists(gold: list[tuple], pred: list[tuple], n_cols: int, clock: _Clock) -> bool:
    """Individualisation and refinement, as graph-isomorphism tools decide it: colours (interned signatures,
    shared by both sides so that they compare) that every valid column permutation preserves are refined
    until stable; a column class still holding several columns is split by pinning one gold column to each
    pred column of its class in turn (columns with identical vectors tried once) and refining again. A
    branch whose colour counts differ is dead; one where every column has its own colour names the only
    permutation left, which is checked."""
    ids: dict = {}

    def intern(sig) -> int:
        return ids.setdefault(sig, len(ids))

    g_cols, p_cols = list(zip(*gold)), list(zip(*pred))
    g_colour = [intern(("v", _bag(c))) for c in g_cols]
    p_colour = [intern(("v", _bag(c))) for c in p_cols]
    if Counter(g_colour) != Counter(p_colour):
        return False
    if _candidate_count(g_colour) <= _ENUMERATE_UP_TO:  # a few alike columns: try each mapping outright
        return _any_mapping_fits(gold, pred, g_colour, p_colour, clock)
    sides = _Sides(gold, pred, g_cols, p_cols, intern, clock)
    refined = sides.refine(g_colour, p_colour)
    if refined is None:
        return False
    refined = sides.pair_signatures(*refined)
    if refined is None:
        return False
    vector_id: dict = {}
    p_vec = [vector_id.setdefault(c, len(vector_id)) for c in p_cols]
    return sides.search(refined[0], refined[1], p_vec, 0)


def _candidate_count(colour: list[int]) -> int:
    return math.prod(math.factorial(size) for size in Counter(colour).values())


def _any_mapping_fits(gold, pred, g_colour, p_colour, clock) -> bool:
    """Every colour-preserving column mapping, each checked on whole rows (cheaper than refining a large
    result when there are only a few)."""
    target = Counter(gold)
    classes = sorted(set(g_colour))
    g_members = [[i for i, c in enumerate(g_colour) if c == colour] for colour in classes]
    p_members = [[j for j, c in enumerate(p_colour) if c == colour] for colour in classes]
    for choice in itertools.product(*(itertools.permutations(m) for m in p_members)):
        clock.check()
        perm = [0] * len(g_colour)
        for gs, ps in zip(g_members, choice):
            for i, j in zip(gs, ps):
                perm[i] = j
        if Counter(tuple(r[j] for j in perm) for r in pred) == target:
            return True
    return False


def _bag(items) -> frozenset:
    return frozenset(Counter(items).items())


class _Sides:
    """Gold and prediction, column by column, with the operations of the search."""

    def __init__(self, gold, pred, g_cols, p_cols, intern, clock):
        self.gold, self.pred, self.g_cols, self.p_cols = gold, pred, g_cols, p_cols
        self.intern, self.clock = intern, clock

    def refine(self, g_colour: list[int], p_colour: list[int]):
        """Colour refinement to a stable colouring: a row's colour is the bag of (column colour, value) in it,
        a column's its colour and the bag of (row colour, value) down it. None when the sides disagree."""
        intern = self.intern
        while True:
            self.clock.check()
            g_rows = [intern(("r", _bag(zip(g_colour, row)))) for row in self.gold]
            p_rows = [intern(("r", _bag(zip(p_colour, row)))) for row in self.pred]
            if Counter(g_rows) != Counter(p_rows):
                return None
            new_g = [intern(("c", g_colour[i], _bag(zip(g_rows, c)))) for i, c in enumerate(self.g_cols)]
            new_p = [intern(("c", p_colour[j], _bag(zip(p_rows, c)))) for j, c in enumerate(self.p_cols)]
            if Counter(new_g) != Counter(new_p):
                return None
            if len(set(new_g)) == len(set(g_colour)):
                return new_g, new_p
            g_colour, p_colour = new_g, new_p

    def pair_signatures(self, g_colour: list[int], p_colour: list[int]):
        """A finer colour for columns that refinement left together: the bag, over every other column, of
        (its colour, the multiset of value pairs the two columns form row by row). Columns of a projective
        plane all meet in one point; one swapped incidence makes some meet in 0 or 2, seen here at once.
        Skipped on large results, where it would cost rows x columns^2 (the search still decides)."""
        n_cols = len(g_colour)
        if len(set(g_colour)) == n_cols or len(self.gold) * n_cols * n_cols > _PAIR_SIGNATURE_CELLS:
            return g_colour, p_colour
        intern = self.intern

        def signatures(cols, colour):
            out = []
            for i, col in enumerate(cols):
                self.clock.check()
                pairs = _bag((colour[k], _bag(zip(col, other))) for k, other in enumerate(cols) if k != i)
                out.append(intern(("p", colour[i], pairs)))
            return out

        new_g, new_p = signatures(self.g_cols, g_colour), signatures(self.p_cols, p_colour)
        if Counter(new_g) != Counter(new_p):
            return None
        return self.refine(new_g, new_p) if len(set(new_g)) > len(set(g_colour)) else (new_g, new_p)

    def search(self, g_colour: list[int], p_colour: list[int], p_vec: list[int], depth: int) -> bool:
        sizes = Counter(g_colour)
        if max(sizes.values()) == 1:  # one candidate per column: the permutation is determined
            source = {colour: j for j, colour in enumerate(p_colour)}
            perm = [source[colour] for colour in g_colour]
            return Counter(self.gold) == Counter(tuple(r[j] for j in perm) for r in self.pred)
        # the largest class: pinning columns of a small class (e.g. the lines through one point) keeps
        # choosing alike columns that refinement cannot tell apart; columns of the largest tend to be in
        # general position, and a few of those leave every column its own colour
        target = max((size, -colour) for colour, size in sizes.items() if size > 1)[1] * -1
        i = g_colour.index(target)
        tried = set()
        for j, colour in enumerate(p_colour):
            if colour != target or p_vec[j] in tried:
                continue
            tried.add(p_vec[j])  # identical column vectors give identical outcomes
            self.clock.check()
            pinned = self.intern(("pin", depth, target))
            g_next, p_next = list(g_colour), list(p_colour)
            g_next[i], p_next[j] = pinned, pinned
            refined = self.refine(g_next, p_next)
            if refined is not None and self.search(refined[0], refined[1], p_vec, depth + 1):
                return True
        return False
