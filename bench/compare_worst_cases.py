"""Spider result comparison on its worst known inputs: projective planes, whose columns no value multiset,
colour refinement or pair signature tells apart.

Each case is a 0/1 incidence result (rows = points, columns = lines of PG(2, q), q prime) compared with
the Spider rule (columns may be permuted, rows are a multiset): against itself shuffled (equal), and
against a copy with one degree-preserving swap (no permutation fits). Prints JSON: per case the verdict,
whether it is the right one, and seconds. Runs in a few seconds on one core.

    python bench/compare_worst_cases.py [--budget 10]
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import time

from sqlforge.official.result_compare import CompareBudgetExceeded, spider_result_eq


def projective_plane(q: int) -> list[tuple]:
    """PG(2, q) for a prime q: points and lines are the normalised non-zero vectors of GF(q)^3, a point on
    a line when their dot product is 0 mod q."""
    vectors = [v for v in itertools.product(range(q), repeat=3)
               if any(v) and v[next(i for i, x in enumerate(v) if x)] == 1]
    return [tuple(int(sum(a * b for a, b in zip(p, line)) % q == 0) for line in vectors) for p in vectors]


def one_swap(rows: list[tuple]) -> list[tuple]:
    """Rows p1, p2 and columns l1, l2 with (p1,l1), (p2,l2) set and (p1,l2), (p2,l1) clear trade them."""
    grid = [list(r) for r in rows]
    cols = range(len(grid[0]))
    for p1, p2 in itertools.combinations(range(len(grid)), 2):
        for l1, l2 in itertools.product(cols, cols):
            if grid[p1][l1] and grid[p2][l2] and not grid[p1][l2] and not grid[p2][l1]:
                grid[p1][l1] = grid[p2][l2] = 0
                grid[p1][l2] = grid[p2][l1] = 1
                return [tuple(r) for r in grid]
    raise ValueError("no swap")


def shuffle(rows: list[tuple], seed: int) -> list[tuple]:
    rng = random.Random(seed)
    perm = rng.sample(range(len(rows[0])), len(rows[0]))
    out = [tuple(r[i] for i in perm) for r in rows]
    rng.shuffle(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=10.0, help="compare budget in seconds (validate's default)")
    args = parser.parse_args()
    results = {}
    for q in (5, 7, 11):
        plane = projective_plane(q)
        for name, pred, expected in ((f"PG(2,{q}) shuffled", shuffle(plane, q), True),
                                     (f"PG(2,{q}) one swap, shuffled", shuffle(one_swap(plane), q + 1), False)):
            start = time.monotonic()
            try:
                verdict: object = spider_result_eq(plane, pred, False, budget_s=args.budget)
            except CompareBudgetExceeded:
                verdict = "compare_budget"
            results[name] = {"size": f"{len(plane)}x{len(plane)}", "verdict": verdict,
                             "right": verdict is expected, "seconds": round(time.monotonic() - start, 4)}
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
