"""Batched transformers engine vs. a plain loop of model.generate, one prompt at a time.

Prints JSON: tokens per second of each, their ratio, and whether the greedy
outputs are identical. Each side is timed `--repeats` times, interleaved, and
the median run counts: the batched pass is about a second, so one timing of
it swings by ±10% on a shared 2-core machine. Needs the demo pipeline's outputs (models/merged,
data/prepared/dev.jsonl): run `dvc repro merge preprocess` first.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from sqlforge.config import load_params
from sqlforge.engine.hf import TransformersEngine
from sqlforge.io import read_jsonl
from sqlforge.prompts import example_prompt


def plain_loop(engine: TransformersEngine, prompts: list[str], max_new_tokens: int) -> tuple[list[str], int]:
    tok, model = engine.tokenizer, engine.model
    texts, tokens = [], 0
    for prompt in prompts:
        ids = tok(prompt, return_tensors="pt", add_special_tokens=False)
        with torch.inference_mode():
            out = model.generate(**ids, do_sample=False, max_new_tokens=max_new_tokens, pad_token_id=tok.pad_token_id)
        new = out[0, ids["input_ids"].shape[1]:].tolist()
        # count what the batched engine counts: tokens before the end-of-sequence token
        new = new[: new.index(tok.eos_token_id)] if tok.eos_token_id in new else new
        tokens += len(new)
        texts.append(tok.decode(new, skip_special_tokens=True))
    return texts, tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="models/merged")
    parser.add_argument("--dev", default="data/prepared/dev.jsonl")
    parser.add_argument("--prompts", type=int, default=200)
    parser.add_argument("--max-new-tokens", type=int, default=72)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each side; the median counts")
    parser.add_argument("--batch-size", type=int, default=load_params().engine.batch_size,
                        help="default: engine.batch_size in params.yaml")
    args = parser.parse_args()

    engine = TransformersEngine(args.model, batch_size=args.batch_size)
    prompts = [example_prompt(engine.tokenizer, r) for r in read_jsonl(args.dev)[: args.prompts]]

    # warm both paths up (first-call allocations), then time them
    engine.generate(prompts[:4], n=1, max_new_tokens=8)
    plain_loop(engine, prompts[:2], 8)
    batched_runs, loop_runs = [], []
    for _ in range(args.repeats):  # interleaved, so a slow spell of the machine hits both sides
        engine.generated_tokens = 0
        engine.prefix_store.clear()  # no KV left from the last repeat: each batched run starts cold
        start = time.perf_counter()
        batched = engine.generate(prompts, n=1, max_new_tokens=args.max_new_tokens)
        batched_runs.append(time.perf_counter() - start)
        batched_tokens = engine.generated_tokens

        start = time.perf_counter()
        loop_texts, loop_tokens = plain_loop(engine, prompts, args.max_new_tokens)
        loop_runs.append(time.perf_counter() - start)
    batched_s, loop_s = statistics.median(batched_runs), statistics.median(loop_runs)

    same = sum(b[0].text == t for b, t in zip(batched, loop_texts))
    print(json.dumps({
        "prompts": len(prompts),
        "max_new_tokens": args.max_new_tokens,
        "batch_size": args.batch_size,
        "torch_threads": torch.get_num_threads(),
        "repeats": args.repeats,
        "batched": {"seconds": batched_s, "tokens": batched_tokens, "tokens_per_second": batched_tokens / batched_s,
                    "seconds_each_run": batched_runs},
        "plain_loop": {"seconds": loop_s, "tokens": loop_tokens, "tokens_per_second": loop_tokens / loop_s,
                       "seconds_each_run": loop_runs},
        "speedup": (batched_tokens / batched_s) / (loop_tokens / loop_s),
        "speedup_each_run": [(batched_tokens / b) / (loop_tokens / l) for b, l in zip(batched_runs, loop_runs)],
        "identical_greedy_outputs": same == len(prompts),
        "identical_count": same,
    }, indent=2))


if __name__ == "__main__":
    main()
