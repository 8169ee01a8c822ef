"""tree-build@<shard>: ReSQLver revision trees for one shard of the training questions.

Shard i holds the questions whose stable id hash falls in i (mod the number
of shards), so shards can run at the same time on different machines.

The trees are written by `tree.generator`: the SFT policy (--model) or a model
folder or hub id of its own (ReSQLver builds them with a separate instruct model).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
from dataclasses import asdict
from pathlib import Path

from sqlforge.stage_runner import console, run_stage, summary
from sqlforge.config import load_params
from sqlforge.engine import load_engine
from sqlforge.io import atomic_path, dump_jsonl, write_json
from sqlforge.base_model import model_fingerprint
from sqlforge.records import Example, distance_to_json, read_records
from sqlforge.sandbox.executor import sandbox_executor
from sqlforge.search.trees import TreeSettings, build_trees, stable_shard


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", required=True)
    parser.add_argument("--shard", type=int, required=True)
    parser.add_argument("--train", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--metrics", required=True)
    parser.add_argument("--checkpoint", required=True, help="resume state of a killed run, removed when the stage ends")
    args = parser.parse_args()
    params = load_params(args.params)
    cfg = params.tree
    num_shards = len(cfg.shards)

    records = read_records(args.train, Example)
    if cfg.max_questions > 0:  # a deterministic subset, spread over the shards by the same hash
        records = sorted(records, key=lambda r: (stable_shard(r["id"], 1 << 30), r["id"]))[: cfg.max_questions]
        records.sort(key=lambda r: r["id"])
    shard = [r for r in records if stable_shard(r["id"], num_shards) == args.shard]

    if cfg.generator == "policy":
        model, engine_cfg = args.model, params.engine
    else:  # served alone: engine.lora_adapter names the policy's adapter, not this model's
        model, engine_cfg = cfg.generator, dataclasses.replace(params.engine, lora_adapter="")
    engine = load_engine(model, engine_cfg)
    engine.show_progress = True
    settings = TreeSettings(branching=cfg.branching, max_depth=cfg.max_depth, temperature=cfg.temperature,
                            top_p=cfg.top_p, max_new_tokens=params.engine.budget(cfg.max_new_tokens),
                            seed=cfg.seed * 1000 + args.shard, gold_timeout_s=cfg.timeout.gold,
                            t_min=cfg.timeout.t_min, k=cfg.timeout.k, c=cfg.timeout.c)
    # resume state lives outside the DVC output (DVC deletes outputs before a stage runs); it is
    # only reused for the same questions, settings and model
    checkpoint = Path(args.checkpoint)
    fingerprint = hashlib.sha256(json.dumps([asdict(settings), [r["id"] for r in shard],
                                             model_fingerprint(model) if Path(model).is_dir() else model]
                                            ).encode()).hexdigest()

    def progress(depth: int, prompts: int) -> None:
        if prompts < 0:
            console.print(f"tree-build@{args.shard}: resumed from {checkpoint} at level {depth}", soft_wrap=True)
        else:
            console.print(f"tree-build@{args.shard}: level {depth}, {prompts} prompts")

    # queries carry their own timeouts (gold 60 s, predictions by tree.timeout)
    with sandbox_executor(params.sandbox, params.tree.timeout.t_min) as executor:
        trees = build_trees(shard, engine, engine.tokenizer, executor, settings, progress=progress,
                            checkpoint=checkpoint, fingerprint=fingerprint)
    for tree in trees:
        for node in tree["nodes"]:
            node["distance"] = distance_to_json(node["distance"])

    with atomic_path(args.out, is_dir=True) as out:
        dump_jsonl(out / "trees.jsonl", trees)
    metrics = {"shard": args.shard, "questions": len(trees),
               "solved_at_root": sum(t["solved_at_root"] for t in trees),
               "solved": sum(t["solved"] for t in trees), "nodes": sum(len(t["nodes"]) for t in trees),
               "model_calls": engine.calls}
    write_json(args.metrics, metrics)
    checkpoint.unlink(missing_ok=True)
    summary(f"tree-build@{args.shard}", metrics)


if __name__ == "__main__":
    run_stage(main)
