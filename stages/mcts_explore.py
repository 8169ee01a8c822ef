"""mcts-explore: SQL-o1 clause-level MCTS with self-reward over the dev questions.

The chosen SQL per question comes from a fair selector (search statistics
and execution status, never the gold); every distinct complete SQL found is
kept with its visits, Q, self-reward and execution status.
"""

from __future__ import annotations

import argparse
import hashlib
import time

from rich.progress import Progress

from sqlforge.cli import console, run_stage, summary
from sqlforge.config import load_params
from sqlforge.engine import load_engine
from sqlforge.io import atomic_path, dump_jsonl, read_jsonl, write_json
from sqlforge.mcts import MCTS, Search, candidates, choose
from sqlforge.sqlexec import Executor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--dev", default="data/prepared/dev.jsonl")
    parser.add_argument("--model", default="models/merged")
    parser.add_argument("--out", default="data/mcts")
    parser.add_argument("--metrics", default="metrics/mcts.json")
    args = parser.parse_args()
    params = load_params(args.params)
    cfg = params.mcts

    records = read_jsonl(args.dev)
    if cfg.max_questions > 0:
        records = records[: cfg.max_questions]
    engine = load_engine(args.model, params.engine)
    searches = [Search(rec, engine.tokenizer) for rec in records]

    start = time.monotonic()
    with Progress(console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task("mcts iterations", total=cfg.iterations)
        MCTS(engine, engine.tokenizer, cfg, params.engine.max_new_tokens).run(searches, progress=lambda i: bar.update(task, completed=i))
    search_seconds = time.monotonic() - start

    executor = Executor(timeout_s=cfg.timeout_s)
    results = []
    for search in searches:
        rec = search.record
        cands = candidates(search)
        for cand in cands:  # execution signal only: runs, and returns rows; no gold involved
            result = executor.execute(rec["db_path"], cand["sql"])
            cand["exec_status"] = "ok" if result.ok and result.rows else ("empty" if result.ok else result.error_kind)
            cand["exec_key"] = hashlib.sha1(repr(sorted(map(repr, result.rows))).encode()).hexdigest()[:12]
        chosen = choose(cands, cfg.selector)
        results.append({"id": rec["id"], "db_id": rec["db_id"], "selector": cfg.selector,
                        "chosen_sql": chosen["sql"] if chosen else "", "candidates": cands})

    with atomic_path(args.out, is_dir=True) as out:
        dump_jsonl(out / "results.jsonl", results)
    n = max(1, len(records))
    metrics = {"questions": len(records), "iterations": cfg.iterations, "selector": cfg.selector,
               "seconds_per_question": search_seconds / n, "model_calls_per_question": engine.requests / n,
               "batched_model_calls": engine.calls,
               "mean_candidates": sum(len(r["candidates"]) for r in results) / n}
    write_json(args.metrics, metrics)
    summary("mcts-explore", metrics)


if __name__ == "__main__":
    run_stage(main)
