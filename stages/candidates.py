"""candidates: the greedy SQL and N sampled SQLs per dev question, generated once.

evaluate-rm scores them with the reward model (best-of-N) and validate judges
every predictor built from them (greedy, majority vote, best-of-N, oracle
pass@N). Prompts are inference prompts: no gold anywhere.
"""

from __future__ import annotations

import argparse
import time

from sqlforge.stage_runner import run_stage, summary
from sqlforge.config import load_params
from sqlforge.engine import load_engine
from sqlforge.extract import extract_sql
from sqlforge.io import atomic_path, dump_jsonl, write_json
from sqlforge.prompts import example_prompt
from sqlforge.records import Example, read_records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", required=True)
    parser.add_argument("--dev", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--metrics", required=True)
    args = parser.parse_args()
    params = load_params(args.params)
    cfg = params.candidates

    records = read_records(args.dev, Example)
    if cfg.max_questions > 0:
        records = records[: cfg.max_questions]
    engine = load_engine(args.model, params.engine)
    engine.show_progress = True
    prompts = [example_prompt(engine.tokenizer, rec) for rec in records]

    start = time.monotonic()
    budget = params.engine.budget(cfg.max_new_tokens)
    greedy = engine.generate(prompts, n=1, temperature=0.0, max_new_tokens=budget)
    samples = engine.generate(prompts, n=cfg.n, temperature=cfg.temperature, top_p=cfg.top_p,
                              max_new_tokens=budget, seed=cfg.seed) if cfg.n else [[]] * len(prompts)
    seconds = time.monotonic() - start

    out_records = []
    for rec, first, sampled in zip(records, greedy, samples):
        cands = [{"sql": extract_sql(c.text), "logprob": c.cumulative_logprob, "source": source}
                 for c, source in [(first[0], "greedy")] + [(s, "sample") for s in sampled]]
        out_records.append({"id": rec["id"], "db_id": rec["db_id"], "candidates": cands})

    with atomic_path(args.out, is_dir=True) as out:
        dump_jsonl(out / "dev.jsonl", out_records)
    n = max(1, len(records))
    metrics = {"questions": len(records), "samples_per_question": cfg.n, "temperature": cfg.temperature,
               "mean_distinct_sql": sum(len({c["sql"] for c in r["candidates"]}) for r in out_records) / n,
               "seconds_per_question": seconds / n,
               # greedy + samples: what a reasoning model's rationales cost (preprocess.reasoning)
               "generated_tokens_per_question": engine.generated_tokens / n}
    write_json(args.metrics, metrics)
    summary("candidates", metrics)


if __name__ == "__main__":
    run_stage(main)
