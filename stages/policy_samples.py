"""policy-samples: the SFT policy's own SQL on train questions, judged by execution against the gold.

n samples per question (the policy's candidates, as best-of-N sees them on dev),
each run in the sandbox and labelled right or wrong. merge-shards makes the reward
model's `execution` pairs from them, and the rl stage its DPO pairs (method dpo)
or its choice of questions (grpo with drop_uniform_groups).
"""

from __future__ import annotations

import argparse
import random
import time

from sqlforge.config import load_params
from sqlforge.data.execution import label_samples
from sqlforge.engine import load_engine
from sqlforge.extract import extract_sql
from sqlforge.io import InputError, atomic_path, dump_jsonl, write_json
from sqlforge.official.judge import judge_from
from sqlforge.prompts import example_prompt
from sqlforge.records import Example, read_records
from sqlforge.sandbox.executor import sandbox_executor
from sqlforge.stage_runner import run_stage, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", required=True)
    parser.add_argument("--train", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--metrics", required=True)
    args = parser.parse_args()
    params = load_params(args.params)
    cfg = params.samples

    # data: the train questions, a seeded subset
    records = read_records(args.train, Example)
    if not records:
        raise InputError(f"{args.train}: no train questions")
    random.Random(cfg.seed).shuffle(records)
    if cfg.max_questions > 0:
        records = sorted(records[: cfg.max_questions], key=lambda r: r["id"])

    # generate
    engine = load_engine(args.model, params.engine)
    engine.show_progress = True
    start = time.monotonic()
    outputs = engine.generate([example_prompt(engine.tokenizer, r) for r in records], n=cfg.n,
                              temperature=cfg.temperature, top_p=cfg.top_p,
                              max_new_tokens=params.engine.budget(cfg.max_new_tokens), seed=cfg.seed)
    generate_seconds = time.monotonic() - start

    # judge against the gold, with the validate rules of the dataset
    start = time.monotonic()
    with sandbox_executor(params.sandbox, cfg.timeout_s, params.validate.workers, judging=True) as executor:
        judge = judge_from(params.validate, params.data.dataset, executor)
        labelled = label_samples(records, [[extract_sql(c.text) for c in out] for out in outputs],
                                 [[c.cumulative_logprob for c in out] for out in outputs], judge)
    judge_seconds = time.monotonic() - start

    with atomic_path(args.out, is_dir=True) as out:
        dump_jsonl(out / "train.jsonl", labelled)
    right = [sum(s["correct"] for s in r["samples"]) for r in labelled]
    n = max(1, len(labelled))
    metrics = {"questions": len(labelled), "samples_per_question": cfg.n, "temperature": cfg.temperature,
               "sample_accuracy": sum(right) / max(1, cfg.n * len(labelled)),
               "questions_all_right": sum(k == cfg.n for k in right),
               "questions_all_wrong": sum(k == 0 for k in right),
               "questions_mixed": sum(0 < k < cfg.n for k in right),
               "wrong_samples_that_run": sum(not s["correct"] and s["error_kind"] == "ok"
                                             for r in labelled for s in r["samples"]),
               "generate_seconds_per_question": generate_seconds / n, "judge_seconds": judge_seconds}
    write_json(args.metrics, metrics)
    summary("policy-samples", metrics)


if __name__ == "__main__":
    run_stage(main)
