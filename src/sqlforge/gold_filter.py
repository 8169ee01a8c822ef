"""Drop training examples whose gold SQL does not run.

About 370 of BIRD's 9,428 train gold queries fail or time out on the shipped
databases; training on them teaches the model SQL that cannot be right. Only
train is filtered: dev stays whole, so accuracy is over the official set.
"""

from __future__ import annotations

from collections import Counter

from sqlforge.datasets import Example


def executable_golds(examples: list[Example], executor, progress=None) -> tuple[list[Example], dict]:
    """Examples whose gold runs within the executor's timeout, and counts of the dropped by error kind."""
    results = executor.execute_many([(ex.db_path, ex.gold) for ex in examples], progress=progress)
    kept = [ex for ex, res in zip(examples, results) if res.ok]
    dropped = Counter(res.error_kind for res in results if not res.ok)
    dropped_ids = [ex.id for ex, res in zip(examples, results) if not res.ok]
    return kept, {"dropped": len(dropped_ids), "dropped_by_kind": dict(sorted(dropped.items())),
                  "dropped_ids": dropped_ids[:50]}
