"""Greedy SQL of two engine backends on the same dev questions: share identical, EX each, tokens/s each.

Each backend runs in its own process (`generate`), so a vLLM instance never
shares GPU memory with the transformers model; `compare` then judges both:

    python bench/compare_backends.py generate --backend vllm --out preds-vllm.json
    python bench/compare_backends.py generate --backend transformers --out preds-hf.json
    python bench/compare_backends.py compare preds-vllm.json preds-hf.json --min-identical 0.9

The engine is the one params.yaml configures (model or `engine.lora_adapter`,
dtype, batch size, max_new_tokens), with only the backend chosen here.
Tokens/s counts generated tokens over the timed greedy pass, after a short
warm-up (vLLM's CUDA graphs, the first batches) that is not timed. `compare`
exits 1 when the share of identical SQL is below `--min-identical` or a run
generated nothing; bench/gpu_check.sh runs it on a GPU.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from sqlforge.config import load_params
from sqlforge.engine import BACKENDS, load_engine
from sqlforge.official.judge import judge_from, judging
from sqlforge.extract import extract_sql
from sqlforge.io import read_jsonl, write_json
from sqlforge.prompts import example_prompt
from sqlforge.sandbox.executor import sandbox_executor


def generate(args) -> None:
    params = load_params(args.params)
    records = read_jsonl(args.dev)[: args.questions]
    start = time.monotonic()
    engine = load_engine(args.model, params.engine, backend=args.backend, reason="bench: comparing backends")
    load_seconds = time.monotonic() - start
    prompts = [example_prompt(engine.tokenizer, rec) for rec in records]
    engine.generate(prompts[:4], n=1, temperature=0.0, max_new_tokens=8)  # warm-up, not timed
    engine.generated_tokens = 0
    start = time.monotonic()
    outputs = engine.generate(prompts, n=1, temperature=0.0, max_new_tokens=params.engine.max_new_tokens)
    seconds = time.monotonic() - start
    write_json(args.out, {"backend": args.backend, "engine": type(engine).__name__, "dtype": params.engine.dtype,
                          "lora_adapter": params.engine.lora_adapter, "ids": [r["id"] for r in records],
                          "sql": [extract_sql(o[0].text) for o in outputs], "tokens": engine.generated_tokens,
                          "seconds": seconds, "tokens_per_s": engine.generated_tokens / max(seconds, 1e-9),
                          "load_seconds": load_seconds})


def compare(args) -> int:
    params = load_params(args.params)
    runs = [json.loads(Path(p).read_text()) for p in args.predictions]
    if runs[0]["ids"] != runs[1]["ids"]:
        print(f"error: {args.predictions[0]} and {args.predictions[1]} hold different questions", file=sys.stderr)
        return 1
    by_id = {r["id"]: r for r in read_jsonl(args.dev)}
    records = [by_id[i] for i in runs[0]["ids"]]
    rules, timeout, _ = judging(params.validate, params.data.dataset)
    report: dict = {"questions": len(records), "rules": rules}
    # the same judge validate uses (sandbox limits, rules, DISTINCT and value handling from params)
    with sandbox_executor(params.sandbox, timeout, params.validate.workers, judging=True) as executor:
        judge = judge_from(params.validate, params.data.dataset, executor)
        for name, run in zip(("a", "b"), runs):
            judged = judge.verdicts(records, run["sql"])
            report[name] = {"backend": run["backend"], "engine": run["engine"],
                            "ex": sum(v["correct"] for v in judged) / max(1, len(judged)),
                            "tokens_per_s": round(run["tokens_per_s"], 1), "tokens": run["tokens"],
                            "seconds": round(run["seconds"], 2), "load_seconds": round(run["load_seconds"], 1)}
    same = sum(x == y for x, y in zip(runs[0]["sql"], runs[1]["sql"]))
    report["identical_sql_share"] = same / max(1, len(records))
    report["differing"] = [{"id": i, "a": x, "b": y} for i, x, y in zip(runs[0]["ids"], runs[0]["sql"],
                                                                       runs[1]["sql"]) if x != y][:5]
    print(json.dumps(report, indent=1))
    failures = []
    if report["identical_sql_share"] < args.min_identical:
        failures.append(f"identical SQL share {report['identical_sql_share']:.3f} < {args.min_identical}")
    failures += [f"{run['backend']} generated no tokens" for run in runs if run["tokens"] <= 0]
    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--dev", default="data/prepared/dev.jsonl")
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="greedy SQL of one backend, timed")
    gen.add_argument("--backend", choices=BACKENDS, required=True)
    gen.add_argument("--model", default="models/merged", help="ignored when engine.lora_adapter is set")
    gen.add_argument("--questions", type=int, default=30)
    gen.add_argument("--out", required=True)
    cmp = sub.add_parser("compare", help="share identical, EX and tokens/s of two generate runs")
    cmp.add_argument("predictions", nargs=2)
    cmp.add_argument("--min-identical", type=float, default=0.9,
                     help="fail below this share of identical SQL (bf16 kernels may flip near-ties)")
    args = parser.parse_args(argv)
    if args.command == "generate":
        generate(args)
        return 0
    return compare(args)


if __name__ == "__main__":
    sys.exit(main())
