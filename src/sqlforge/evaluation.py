"""Execution-accuracy comparison under the official rules (reference §4).

spider (test-suite evaluator): both empty -> equal; row and column counts
must match; columns may be permuted; rows compared as a multiset; order
matters only when the gold query has a top-level ORDER BY.
bird: set(pred_rows) == set(gold_rows); column order matters.
Values compare with Python equality, as both official scripts do (1 == 1.0).
"""

from __future__ import annotations

import itertools
from collections import Counter

import sqlglot
from sqlglot import exp

RULES = {"spider": {"timeout_s": 60.0}, "bird": {"timeout_s": 30.0}}


def rules_for(dataset: str, requested: str = "auto") -> str:
    if requested != "auto":
        return requested
    return "bird" if dataset == "bird" else "spider"


def has_order_by(sql: str) -> bool:
    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError):
        return "order by" in sql.lower()
    return tree.args.get("order") is not None


def _unorder_eq(a: list, b: list) -> bool:
    return Counter(a) == Counter(b)


def _permute(row: tuple, perm: tuple[int, ...]) -> tuple:
    return tuple(row[i] for i in perm)


def spider_result_eq(gold: list[tuple], pred: list[tuple], order_matters: bool) -> bool:
    if not gold and not pred:
        return True
    if len(gold) != len(pred):
        return False
    n_cols = len(gold[0])
    if len(pred[0]) != n_cols:
        return False
    gold_cols = [Counter(r[i] for r in gold) for i in range(n_cols)]
    pred_cols = [Counter(r[i] for r in pred) for i in range(n_cols)]
    # candidate source columns for each gold column: same multiset of values
    options = [[j for j in range(n_cols) if pred_cols[j] == gold_cols[i]] for i in range(n_cols)]
    if any(not o for o in options):
        return False
    for perm in itertools.product(*options):
        if len(set(perm)) != n_cols:
            continue
        permuted = [_permute(r, perm) for r in pred]
        if (permuted == gold) if order_matters else _unorder_eq(permuted, gold):
            return True
    return False


def bird_result_eq(gold: list[tuple], pred: list[tuple]) -> bool:
    return set(pred) == set(gold)


def results_match(rules: str, gold_sql: str, gold: list[tuple], pred: list[tuple]) -> bool:
    if rules == "bird":
        return bird_result_eq(gold, pred)
    return spider_result_eq(gold, pred, has_order_by(gold_sql))


def gold_timeout(t_gold: float, t_min: float, k: float, c: float) -> float:
    """ReSQLver's dynamic prediction timeout: max(t_min, k * t_gold + c)."""
    return max(t_min, k * t_gold + c)


def verdicts(records: list[dict], predictions: list[str], rules: str, executor) -> list[dict]:
    """Execute each prediction and its gold; never uses a prediction to choose another."""
    out = []
    for rec, pred in zip(records, predictions):
        gold = executor.execute(rec["db_path"], rec["gold"])
        result = executor.execute(rec["db_path"], pred)
        if not gold.ok:
            raise RuntimeError(f"gold SQL of {rec['id']} fails: {gold.error}")
        correct = result.ok and results_match(rules, rec["gold"], gold.rows, result.rows)
        out.append({"id": rec["id"], "correct": bool(correct), "error_kind": result.error_kind})
    return out


def accuracy_report(records: list[dict], verdict_list: list[dict]) -> dict:
    by_diff: dict[str, list[bool]] = {}
    for rec, v in zip(records, verdict_list):
        by_diff.setdefault(rec["difficulty"], []).append(v["correct"])
    n = len(verdict_list)
    return {
        "ex": sum(v["correct"] for v in verdict_list) / n if n else 0.0,
        "n": n,
        "ex_by_difficulty": {d: sum(vs) / len(vs) for d, vs in sorted(by_diff.items())},
    }
