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
- otherwise columns (and rows) are coloured by iterated refinement of value
  multisets, which every valid permutation preserves; only columns of the same
  colour are tried against each other, columns with identical vectors are tried
  once, and each partial assignment must already give equal projected row
  multisets. A `budget_s` bounds the remaining (rare) hard cases.
"""

from __future__ import annotations

import time
from collections import Counter

_REFINE_ROUNDS = 8  # colour refinement almost always stabilises in 2-3 rounds
_SEARCH_WITHOUT_REFINING = 3  # interchangeable columns a plain search handles faster than refining


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
    ids: dict = {}  # structural signature -> small int, shared by both sides so colours compare

    def intern(sig) -> int:
        return ids.setdefault(sig, len(ids))

    def bag(items) -> frozenset:
        return frozenset(Counter(items).items())

    g_cols, p_cols = list(zip(*gold)), list(zip(*pred))
    g_colour = [intern(("v", bag(c))) for c in g_cols]
    p_colour = [intern(("v", bag(c))) for c in p_cols]
    if len(set(g_colour)) == n_cols:  # every column's values differ from the others': one candidate each
        source = {colour: j for j, colour in enumerate(p_colour)}
        if set(source) != set(g_colour):
            return False
        perm = [source[colour] for colour in g_colour]
        return Counter(gold) == Counter(tuple(r[j] for j in perm) for r in pred)
    if Counter(g_colour) != Counter(p_colour):
        return False
    if max(Counter(g_colour).values()) > _SEARCH_WITHOUT_REFINING:
        g_colour, p_colour = _refine(gold, pred, g_cols, p_cols, g_colour, p_colour, intern, bag, clock)
        if g_colour is None:
            return False

    # search: gold columns in order of scarcest colour; each step keeps projected row multisets equal
    class_size = Counter(g_colour)
    order = sorted(range(n_cols), key=lambda i: (class_size[g_colour[i]], g_colour[i], i))
    keys: dict = {}  # (projected-row id, value) -> projected-row id, shared by both sides

    def extend(prev: list[int], column: tuple) -> list[int]:
        return [keys.setdefault((k, v), len(keys)) for k, v in zip(prev, column)]

    g_proj = [[0] * len(gold)]
    for i in order:
        g_proj.append(extend(g_proj[-1], g_cols[i]))
    g_counts = [Counter(p) for p in g_proj]
    vector_id = {}
    p_vec = [vector_id.setdefault(c, len(vector_id)) for c in p_cols]
    used = [False] * n_cols

    def search(depth: int, p_prev: list[int]) -> bool:
        if depth == n_cols:
            return True
        i = order[depth]
        tried = set()
        for j in range(n_cols):
            if used[j] or p_colour[j] != g_colour[i] or p_vec[j] in tried:
                continue
            tried.add(p_vec[j])  # identical column vectors give identical outcomes
            clock.check()
            p_next = extend(p_prev, p_cols[j])
            if Counter(p_next) != g_counts[depth + 1]:
                continue
            used[j] = True
            if search(depth + 1, p_next):
                return True
            used[j] = False
        return False

    return search(0, [0] * len(pred))


def _refine(gold, pred, g_cols, p_cols, g_colour, p_colour, intern, bag, clock):
    """Colour refinement: a row's colour is the bag of (column colour, value) in it, a column's the bag of
    (row colour, value) down it, repeated until stable. Every valid column permutation maps each column
    to one of its own colour, so differing colour counts prove there is none: (None, None)."""
    for _ in range(_REFINE_ROUNDS):
        if Counter(g_colour) != Counter(p_colour):
            return None, None
        clock.check()
        g_rows = [intern(("r", bag(zip(g_colour, row)))) for row in gold]
        p_rows = [intern(("r", bag(zip(p_colour, row)))) for row in pred]
        if Counter(g_rows) != Counter(p_rows):
            return None, None
        new_g = [intern(("c", g_colour[i], bag(zip(g_rows, c)))) for i, c in enumerate(g_cols)]
        new_p = [intern(("c", p_colour[j], bag(zip(p_rows, c)))) for j, c in enumerate(p_cols)]
        stable = len(set(new_g)) == len(set(g_colour))
        g_colour, p_colour = new_g, new_p
        if stable:
            break
    if Counter(g_colour) != Counter(p_colour):
        return None, None
    return g_colour, p_colour

