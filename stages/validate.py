"""validate: execution accuracy on the dev set under the official rules.

Predictors: `greedy` (the merged SFT model, greedy decoding) and `mcts`
(mcts-explore's chosen SQL, on the questions it searched). No predictor ever sees the gold: verdicts are
computed after the predictions are fixed. Predictions are also written in
the official formats (Spider: one SQL per line in question order, plus
gold.sql with db_ids; BIRD: the index -> "SQL\t----- bird -----\tdb_id" JSON),
so the official scripts can cross-check every number.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

from sqlforge.cli import progress, run_stage, summary
from sqlforge.config import load_params
from sqlforge.engine import load_engine
from sqlforge.evaluation import RULES, accuracy_report, rules_for, verdicts
from sqlforge.io import InputError, atomic_path, dump_jsonl, read_jsonl, write_json
from sqlforge.predict import greedy_predictions
from sqlforge.sqlexec import Executor


def dataset_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def write_official_format(out: Path, name: str, rules: str, records: list[dict], sqls: list[str]) -> None:
    """Files the official evaluators read. Spider: one SQL per line in question order (gold lines add
    a tab and the db_id). BIRD: JSON mapping the question index to "SQL\t----- bird -----\tdb_id"."""
    one_line = [" ".join(sql.split()) for sql in sqls]
    if rules == "bird":
        write_json(out / f"{name}_bird.json", {str(i): f"{sql}\t----- bird -----\t{rec['db_id']}"
                                             for i, (rec, sql) in enumerate(zip(records, one_line))})
    suffix = [f"\t{rec['db_id']}" if name == "gold" else "" for rec in records]
    (out / f"{name}.sql").write_text("".join(sql + tail + "\n" for sql, tail in zip(one_line, suffix)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--dev", default="data/prepared/dev.jsonl")
    parser.add_argument("--model", default="models/merged")
    parser.add_argument("--mcts", default="data/mcts/results.jsonl")
    parser.add_argument("--out", default="data/validate")
    parser.add_argument("--metrics", default="metrics/validate.json")
    args = parser.parse_args()
    params = load_params(args.params)
    cfg = params.validate
    rules = rules_for(params.data.dataset, cfg.rules)
    timeout = min(cfg.timeout_s, RULES[rules]["timeout_s"])

    records = read_jsonl(args.dev)
    if cfg.max_questions > 0:
        records = records[: cfg.max_questions]
    engine = load_engine(args.model, params.engine)
    greedy = greedy_predictions(engine, engine.tokenizer, records, params.engine.max_new_tokens)
    mcts = {r["id"]: r["chosen_sql"] for r in read_jsonl(args.mcts)}
    if not mcts:
        raise InputError(f"{args.mcts}: no MCTS results")
    # predictor -> (records it answered, its predictions); MCTS may cover a subset (mcts.max_questions)
    on_mcts = [i for i, r in enumerate(records) if r["id"] in mcts]
    predictors = {"greedy": (records, greedy),
                  "mcts": ([records[i] for i in on_mcts], [mcts[records[i]["id"]] for i in on_mcts])}
    if len(on_mcts) < len(records):  # the same questions for a fair comparison
        predictors["greedy_on_mcts_questions"] = ([records[i] for i in on_mcts], [greedy[i] for i in on_mcts])

    keep_distinct = cfg.keep_distinct or rules == "bird"
    metrics: dict = {"rules": {"name": rules, "timeout_s": timeout, "distinct_removed": not keep_distinct,
                               "test_suite_databases": rules == "spider",
                               "order_by": "textual 'order by' in gold" if rules == "spider" else "ignored"},
                     "dataset": {"name": params.data.dataset, "dev_sha256": dataset_hash(Path(args.dev)),
                                 "questions": len(records)}}
    with Executor(timeout_s=timeout, workers=cfg.workers) as executor, atomic_path(args.out, is_dir=True) as out:
        for name, (recs, preds) in predictors.items():
            with progress(f"validate {name}", 2 * len(preds)) as advance:
                result = verdicts(recs, preds, rules, executor, keep_distinct=keep_distinct, progress=advance)
            metrics[name] = accuracy_report(recs, result)
            write_official_format(out, name, rules, recs, preds)
            dump_jsonl(out / f"{name}.jsonl", [{**v, "sql": p} for v, p in zip(result, preds)])
        write_official_format(out, "gold", rules, records, [r["gold"] for r in records])
        metrics["executed_queries"] = executor.calls
    write_json(args.metrics, metrics)
    summary("validate", {f"{name} ex (n={metrics[name]['n']})": metrics[name]["ex"] for name in predictors})


if __name__ == "__main__":
    run_stage(main)
