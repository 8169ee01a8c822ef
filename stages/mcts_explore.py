"""mcts-explore: SQL-o1 clause-level MCTS with self-reward over the dev questions.

The chosen SQL per question comes from a fair selector (search statistics
and execution status, never the gold); every distinct complete SQL found is
kept with its visits, Q, self-reward and execution status.
"""

from __future__ import annotations

import argparse
import time

from sqlforge.stage_runner import progress, run_stage, summary
from sqlforge.config import load_params
from sqlforge.engine import load_engine
from sqlforge.io import atomic_path, dump_jsonl, write_json
from sqlforge.search.mcts import MCTS, Search, choose_all
from sqlforge.records import Example, read_records
from sqlforge.search.scorers import RewardScorer
from sqlforge.sandbox.executor import sandbox_executor


def snapshot_iterations(iterations: int) -> list[int]:
    """Where the anytime choice is recorded: 1, 2, 4, ... and the last iteration."""
    points = {iterations}
    k = 1
    while k < iterations:
        points.add(k)
        k *= 2
    return sorted(points)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", required=True)
    parser.add_argument("--dev", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--rm", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--metrics", required=True)
    args = parser.parse_args()
    params = load_params(args.params)
    cfg = params.mcts

    records = read_records(args.dev, Example)
    if cfg.max_questions > 0:
        records = records[: cfg.max_questions]
    engine = load_engine(args.model, params.engine)
    uses_rm = cfg.rm_weight != 0 or cfg.selector == "reward_model"
    reward_model = RewardScorer(args.rm) if uses_rm else None
    executor = sandbox_executor(params.sandbox, cfg.timeout_s)
    # a model trained on reasoning targets (preprocess.reasoning) is searched after its own rationale
    reasoning = params.preprocess.reasoning != "none"
    searches = [Search(rec, engine.tokenizer, cfg.prompt == "psg", reasoning=reasoning) for rec in records]

    snapshots = snapshot_iterations(cfg.iterations)
    anytime: list[dict[str, str]] = [{} for _ in searches]

    def after_iteration(i: int) -> None:
        advance(1)
        if i in snapshots:
            for by_iterations, (_, chosen) in zip(anytime, choose_all(searches, executor, cfg.selector, reward_model)):
                by_iterations[str(i)] = chosen["sql"] if chosen else ""

    start = time.monotonic()
    search = MCTS(engine, engine.tokenizer, cfg, params.engine.budget(cfg.max_new_tokens), reward_model=reward_model,
                  executor=executor)
    with progress("mcts iterations", cfg.iterations) as advance:
        search.run(searches, progress=after_iteration)
    search_seconds = time.monotonic() - start

    results = []
    for se, (cands, chosen), by_iterations in zip(searches, choose_all(searches, executor, cfg.selector, reward_model),
                                                  anytime):
        results.append({"id": se.record["id"], "db_id": se.record["db_id"], "selector": cfg.selector,
                        "chosen_sql": chosen["sql"] if chosen else "", "chosen_by_iterations": by_iterations,
                        "candidates": cands})
    executor.close()

    with atomic_path(args.out, is_dir=True) as out:
        dump_jsonl(out / "results.jsonl", results)
    n = max(1, len(records))
    metrics = {"questions": len(records), "iterations": cfg.iterations, "selector": cfg.selector,
               "seconds_per_question": search_seconds / n, "model_calls_per_question": engine.requests / n,
               "batched_model_calls": engine.calls, "completions": search.completions,
               "completions_dropped_truncated": search.dropped_truncated,
               "mean_candidates": sum(len(r["candidates"]) for r in results) / n}
    write_json(args.metrics, metrics)
    summary("mcts-explore", metrics)


if __name__ == "__main__":
    run_stage(main)
