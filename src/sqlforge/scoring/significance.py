"""How far an accuracy on a few hundred questions can be trusted, and whether two differ by more than chance.

- `wilson`: the 95% Wilson score interval of a proportion (k right of n). Chosen over a bootstrap over
  questions because it is a function of (k, n) alone, so anyone can recompute it from the committed
  counts without resamples or a seed, and because it keeps its coverage where the by-difficulty subsets
  are small (a few dozen questions) and where an accuracy is near 0 or 1, where the normal-approximation
  (Wald) interval shrinks to a width of zero.
- `mcnemar_exact`: two predictors scored on the same questions differ only on the discordant questions
  (right for one, wrong for the other). Under "no difference" each discordant question is fixed or broken
  with probability 1/2, so the two-sided exact p-value is the binomial tail
  p = min(1, 2 * sum_{i <= min(b, c)} C(b + c, i) / 2^(b + c)), and 1 when there is no discordant pair.
- `paired_bootstrap`: the 95% percentile interval of EX(B) - EX(A), resampling questions (pairs) with
  replacement. A question contributes +1 (fixed), -1 (broken) or 0, so a resample of n questions is a
  multinomial draw over those three counts: the same distribution as drawing question indices, at the cost
  of one draw per resample whatever n is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

Z95 = 1.959963984540054  # the standard normal's 97.5% quantile
ALPHA = 0.05  # p above this: "not significant" in every report


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """95% Wilson score interval of k successes in n trials; (0, 1) when n is 0 (nothing is known)."""
    if not 0 <= k <= n:
        raise ValueError(f"wilson: {k} successes of {n}")
    if n == 0:
        return 0.0, 1.0
    p = k / n
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # exact at the ends: 0 right has a lower bound of 0, n right an upper bound of 1 (rounding aside)
    low = 0.0 if k == 0 else max(0.0, center - half)
    high = 1.0 if k == n else min(1.0, center + half)
    return low, high


def mcnemar_exact(fixed: int, broken: int) -> float:
    """Two-sided exact McNemar p-value: the binomial test of `fixed` against `broken` with p = 1/2."""
    if fixed < 0 or broken < 0:
        raise ValueError(f"mcnemar_exact: negative counts {fixed}, {broken}")
    n = fixed + broken
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(fixed, broken) + 1))
    return float(min(Fraction(1), Fraction(2 * tail, 2 ** n)))


def paired_bootstrap(fixed: int, broken: int, n: int, resamples: int, seed: int) -> tuple[float, float]:
    """95% percentile interval of the difference in accuracy (B - A) over `n` paired questions of which
    `fixed` went wrong -> right and `broken` right -> wrong; `resamples` bootstrap draws from `seed`."""
    import numpy as np

    if n <= 0 or fixed + broken > n or min(fixed, broken) < 0:
        raise ValueError(f"paired_bootstrap: {fixed} fixed and {broken} broken of {n}")
    if resamples < 1:
        raise ValueError(f"paired_bootstrap: {resamples} resamples")
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n, [fixed / n, broken / n, (n - fixed - broken) / n], size=resamples)
    diffs = (counts[:, 0] - counts[:, 1]) / n
    low, high = np.quantile(diffs, [0.025, 0.975])
    return float(low), float(high)


@dataclass(frozen=True)
class Paired:
    """Predictor A against B on the same questions (a: baseline side, b: the other)."""
    n: int
    ex_a: float
    ex_b: float
    fixed: list[str]  # ids wrong in A, right in B
    broken: list[str]  # ids right in A, wrong in B
    p_value: float
    diff_low: float
    diff_high: float

    @property
    def diff(self) -> float:
        return self.ex_b - self.ex_a

    @property
    def significant(self) -> bool:
        return self.p_value <= ALPHA

    def to_json(self, with_ids: bool = True) -> dict:
        out = {"n": self.n, "ex_a": self.ex_a, "ex_b": self.ex_b, "diff": self.diff, "fixed": len(self.fixed),
               "broken": len(self.broken), "mcnemar_p": self.p_value, "diff_ci95": [self.diff_low, self.diff_high],
               "significant": self.significant}
        if with_ids:
            out.update(fixed_ids=self.fixed, broken_ids=self.broken)
        return out


def paired(ids: Sequence[str], a: Sequence[int], b: Sequence[int], resamples: int, seed: int) -> Paired:
    """Compare two 0/1 verdict lists over the same questions (`ids`, in order)."""
    if not (len(ids) == len(a) == len(b)) or not ids:
        raise ValueError(f"paired: {len(ids)} ids, {len(a)} and {len(b)} verdicts")
    fixed = [q for q, x, y in zip(ids, a, b) if not x and y]
    broken = [q for q, x, y in zip(ids, a, b) if x and not y]
    n = len(ids)
    low, high = paired_bootstrap(len(fixed), len(broken), n, resamples, seed)
    return Paired(n=n, ex_a=sum(map(bool, a)) / n, ex_b=sum(map(bool, b)) / n, fixed=fixed, broken=broken,
                  p_value=mcnemar_exact(len(fixed), len(broken)), diff_low=low, diff_high=high)
