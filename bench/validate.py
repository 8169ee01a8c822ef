"""validate's evaluator vs. a straightforward single-process one, on 2,000 predictions.

The predictions imitate ~5.5 samples per question from a model: under half
are the gold query, the rest are wrong (changed literal, wrong table, syntax
error), and ~6% are slow (a recursive count, different per question). Run
twice: samples that repeat their question's preferred answer like a model's
do, and independent samples (where only parallelism helps). The plain
evaluator opens a connection per prediction and runs gold and prediction one
after the other, as the official scripts do; both apply the same rules
(sqlforge.official.judge). Prints JSON: wall time of each, the ratio, and whether
every verdict agrees. Needs data/prepared/dev.jsonl (`dvc repro preprocess`).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sqlite3
import time

from sqlforge.official.judge import results_match, spider_exec_sql, test_suite_databases, verdicts
from sqlforge.io import read_jsonl
from sqlforge.config import load_params
from sqlforge.sandbox.executor import Limits, sandbox_executor
from sqlforge.sandbox.sqlite import open_readonly, run_query


def candidate_pool(rec: dict, index: int) -> dict[str, str]:
    gold = rec["gold"]
    number = re.search(r"\b\d+\b", gold)
    changed = gold[:number.start()] + str(int(number.group()) + 7) + gold[number.end():] if number else gold + " LIMIT 1"
    table = re.search(r"FROM\s+(\w+)", gold, re.I)
    return {
        "gold": gold,
        "changed_literal": changed,
        "wrong_table": f"SELECT count(*) FROM {table.group(1) if table else 'sqlite_master'}",
        "syntax_error": gold.replace("FROM", "FRM", 1),
        "slow": f"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {300_000 + index}) "
                "SELECT count(*) FROM c",
    }


def make_predictions(records: list[dict], total: int, seed: int, agreement: float) -> tuple[list[dict], list[str]]:
    """`total` predictions over the records, ~total/len(records) samples per question. Like a model's
    samples, each one repeats the question's preferred answer with probability `agreement`."""
    rng = random.Random(seed)
    kinds = ["gold", "changed_literal", "wrong_table", "syntax_error", "slow"]
    weights = [0.45, 0.22, 0.15, 0.12, 0.06]
    preferred = [rng.choices(kinds, weights)[0] for _ in records]
    recs, preds = [], []
    for i in range(total):
        q = i % len(records)
        kind = preferred[q] if rng.random() < agreement else rng.choices(kinds, weights)[0]
        recs.append(records[q])
        preds.append(candidate_pool(records[q], q)[kind])
    return recs, preds


def plain_evaluator(records: list[dict], predictions: list[str], timeout_s: float, lim: Limits) -> list[bool]:
    """One prediction at a time, a fresh connection each, no cache: the official scripts' shape."""
    out = []
    for rec, pred in zip(records, predictions):
        gold_sql = spider_exec_sql(rec["gold"], keep_distinct=False, is_prediction=False)
        pred_sql = spider_exec_sql(pred, keep_distinct=False, is_prediction=True)
        correct = True
        for db in test_suite_databases(rec["db_path"]):
            conn = open_readonly(db)
            try:
                gold = run_query(conn, gold_sql, timeout_s, lim.max_rows, lim.max_bytes, lim.max_cells)
                result = run_query(conn, pred_sql, timeout_s, lim.max_rows, lim.max_bytes, lim.max_cells)
            finally:
                conn.close()
            if not result.ok or not results_match("spider", rec["gold"], gold.rows, result.rows):
                correct = False
                break
        out.append(correct)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dev", default="data/prepared/dev.jsonl")
    parser.add_argument("--predictions", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--agreement", type=float, default=0.6,
                        help="chance that a sample repeats its question's preferred answer")
    args = parser.parse_args()
    # both evaluators judge under the same bounds: params.yaml's sandbox section
    sandbox = load_params("params.yaml").sandbox
    limits = Limits(sandbox.memory_mb, sandbox.max_rows, sandbox.max_cells, sandbox.max_result_mb << 20)

    dev = read_jsonl(args.dev)
    report = {"workers": args.workers, "sqlite_version": sqlite3.sqlite_version}
    # samples that agree like a model's (the case of best-of-N, voting, pass@N), and all-different ones
    for name, agreement in (("model_like_samples", args.agreement), ("independent_samples", 0.0)):
        records, predictions = make_predictions(dev, args.predictions, args.seed, agreement)

        start = time.perf_counter()
        plain = plain_evaluator(records, predictions, args.timeout, limits)
        plain_s = time.perf_counter() - start

        start = time.perf_counter()
        with sandbox_executor(sandbox, args.timeout, args.workers) as executor:
            ours = [v["correct"] for v in verdicts(records, predictions, "spider", executor)]
            executed = executor.calls
        ours_s = time.perf_counter() - start

        report[name] = {
            "predictions": len(predictions),
            "agreement": agreement,
            "distinct_predictions": len(set(zip((r["id"] for r in records), predictions))),
            "wrong_fraction": 1 - sum(plain) / len(plain),
            "slow_predictions": sum(p.startswith("WITH RECURSIVE") for p in predictions),
            "plain_single_process": {"seconds": plain_s, "queries_executed": 2 * len(predictions)},
            "sqlforge_validate": {"seconds": ours_s, "queries_executed": executed},
            "speedup": plain_s / ours_s,
            "identical_verdicts": ours == plain,
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
