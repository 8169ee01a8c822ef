"""MCTS batched across questions vs. one question at a time: same results, fewer model calls.

Prints JSON: wall time and batched model calls per question for both, the
speedup, and whether every question's chosen SQL and candidate set agree.
Needs the demo pipeline's outputs (models/merged, data/prepared/dev.jsonl).
"""

from __future__ import annotations

import argparse
import json
import time

from sqlforge.config import load_params
from sqlforge.engine.hf import TransformersEngine
from sqlforge.io import read_jsonl
from sqlforge.search.mcts import MCTS, Search, candidates


def run(engine: TransformersEngine, records: list[dict], params) -> tuple[list[list[str]], float, int]:
    searches = [Search(rec, engine.tokenizer, params.mcts.prompt == "psg") for rec in records]
    calls = engine.calls
    start = time.perf_counter()
    MCTS(engine, engine.tokenizer, params.mcts, params.engine.max_new_tokens).run(searches)
    seconds = time.perf_counter() - start
    return [[c["sql"] for c in candidates(s)] for s in searches], seconds, engine.calls - calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--model", default="models/merged")
    parser.add_argument("--dev", default="data/prepared/dev.jsonl")
    # default: every dev question, as mcts-explore searches them (mcts.max_questions -1)
    parser.add_argument("--questions", type=int, default=-1, help="first N dev questions; -1 = all")
    args = parser.parse_args()
    params = load_params(args.params)
    records = read_jsonl(args.dev)
    records = records[: args.questions] if args.questions >= 0 else records
    engine = TransformersEngine(args.model, batch_size=params.engine.batch_size,
                                prefix_cache_tokens=params.engine.prefix_cache_tokens)
    engine.generate(["warm up"], max_new_tokens=4)

    # each side starts with an empty prefix store (one question at a time keeps it across questions)
    engine.prefix_store.clear()
    batched, batched_s, batched_calls = run(engine, records, params)
    engine.prefix_store.clear()
    single, single_s, single_calls = [], 0.0, 0
    for rec in records:
        found, seconds, calls = run(engine, [rec], params)
        single += found
        single_s += seconds
        single_calls += calls

    n = len(records)
    same = sum(a == b for a, b in zip(batched, single))
    print(json.dumps({
        "questions": n, "iterations": params.mcts.iterations, "expand_n": params.mcts.expand_n,
        "batched": {"seconds_per_question": batched_s / n, "model_calls_per_question": batched_calls / n},
        "one_question_at_a_time": {"seconds_per_question": single_s / n,
                                   "model_calls_per_question": single_calls / n},
        "speedup": single_s / batched_s, "prefix_cache_tokens": params.engine.prefix_cache_tokens,
        "identical_candidates": same == n, "identical_count": same,
    }, indent=2))


if __name__ == "__main__":
    main()
