"""Drop training examples whose gold SQL does not run.

About 370 of BIRD's 9,428 train gold queries fail or time out on the shipped
databases; training on them teaches the model SQL that cannot be right. Only
train is filtered: dev stays whole, so accuracy is over the official set.

Result size is not a reason to drop a gold: Spider train has golds returning
10,507 rows (`flight_4`), over the sandbox's row cap. A gold stopped by the
cap ran and returned rows; it is re-run as `SELECT count(*) FROM (<gold>)`,
which materialises one row, to check it also finishes within the timeout.
"""

from __future__ import annotations

from collections import Counter

from sqlforge.data.datasets import Example
from sqlforge.sandbox.sqlite import ExecResult, TIMEOUT, TOO_LARGE


def count_query(sql: str) -> str:
    """`sql` wrapped so that it returns one row however many it selects (a trailing `;` dropped)."""
    return f"SELECT count(*) FROM ({sql.strip().rstrip(';').strip()})"


def executable_golds(examples: list[Example], executor, progress=None) -> tuple[list[Example], dict]:
    """Examples whose gold runs within the executor's timeout, and counts of the dropped by error kind."""
    results = executor.execute_many([(ex.db_path, ex.gold) for ex in examples], progress=progress, trusted=True)
    large = [i for i, res in enumerate(results) if res.error_kind == TOO_LARGE]
    recheck = executor.execute_many([(examples[i].db_path, count_query(examples[i].gold)) for i in large],
                                     trusted=True)
    for i, res in zip(large, recheck):
        # timed out: dropped as such; any other error means the wrapper did not fit this SQL, which did run
        results[i] = res if res.error_kind == TIMEOUT else ExecResult()
    kept = [ex for ex, res in zip(examples, results) if res.ok]
    dropped = Counter(res.error_kind for res in results if not res.ok)
    dropped_ids = [ex.id for ex, res in zip(examples, results) if not res.ok]
    return kept, {"dropped": len(dropped_ids), "dropped_by_kind": dict(sorted(dropped.items())),
                  "dropped_ids": dropped_ids[:50], "kept_over_row_cap": len(large)}
