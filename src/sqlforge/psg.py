"""Progressive SQL Generation (SQL-o1): prefix-augmented SFT examples.

A PSG example puts a clause prefix of the gold SQL in the prompt's
"incomplete SQL" slot; its target stays the full gold SQL.
"""

from __future__ import annotations

import random

from sqlforge.clauses import prefixes


def psg_prefixes(gold: str, mode: str, ratio: float, rng: random.Random) -> list[str]:
    """Prefixes to add for one training example (empty list = plain example only)."""
    if mode == "none" or rng.random() >= ratio:
        return []
    cuts = prefixes(gold)
    if not cuts:
        return []
    if mode == "all_prefixes":
        return cuts
    return [rng.choice(cuts)]
