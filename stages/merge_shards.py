"""merge-shards: gather the shard trees and turn them into preference pairs.

Kinds (`pairs.kinds`): ReSQLver's `emerge` and `baseline` from the revision
trees, and `execution` from policy-samples: a right against a wrong sample of
the policy for the same question (wrong ones that run first, hard negatives).

Pairs use one record schema for every consumer: id, question_id, db_id,
prompt (inference chat messages, no gold), chosen, rejected,
chosen_distance, rejected_distance, kind. The train/test split is by
question, so no question's pairs appear in both.
"""

from __future__ import annotations

import argparse
import hashlib
import random
from collections import Counter
from pathlib import Path

from sqlforge.stage_runner import run_stage, summary
from sqlforge.config import load_params
from sqlforge.io import InputError, atomic_path, dump_jsonl, write_json
from sqlforge.data.execution import execution_pairs
from sqlforge.records import (Example, PolicySamples, Tree, distance_from_json, distance_to_json, inference_messages,
                              read_records)
from sqlforge.search.trees import INF, extract_pairs


def in_test_split(question_id: str, seed: int, fraction: float) -> bool:
    digest = hashlib.sha256(f"{seed}:{question_id}".encode()).hexdigest()
    return int(digest[:8], 16) / 0xFFFFFFFF < fraction


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", required=True)
    parser.add_argument("--trees", required=True)
    parser.add_argument("--train", required=True)
    parser.add_argument("--samples", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--metrics", required=True)
    args = parser.parse_args()
    params = load_params(args.params)
    cfg = params.pairs

    shard_files = [Path(args.trees) / f"shard-{i}" / "trees.jsonl" for i in params.tree.shards]
    trees = []
    for path in shard_files:
        if not path.is_file():
            raise InputError(f"{path}: shard output missing (run tree-build for every shard)")
        trees += read_records(path, Tree)
    trees.sort(key=lambda t: t["question_id"])
    records = {r["id"]: r for r in read_records(args.train, Example)}

    splits: dict[str, list[dict]] = {"train": [], "test": []}
    for tree in trees:
        for node in tree["nodes"]:
            node["distance"] = distance_from_json(node["distance"])
        rec = records[tree["question_id"]]
        prompt = inference_messages(rec)
        split = "test" if in_test_split(tree["question_id"], cfg.seed, cfg.test_fraction) else "train"
        for k, pair in enumerate(extract_pairs(tree, prompt, cfg.kinds, cfg.keep_failed_siblings)):
            pair["id"] = f"{tree['question_id']}-{k}"
            pair["chosen_distance"] = distance_to_json(pair["chosen_distance"])
            pair["rejected_distance"] = distance_to_json(pair["rejected_distance"])
            splits[split].append(pair)

    if "execution" in cfg.kinds:
        rng = random.Random(cfg.seed)
        for labelled in read_records(args.samples, PolicySamples):
            qid = labelled["id"]
            if qid not in records:
                raise InputError(f"{args.samples}: question {qid!r} is not in {args.train}")
            split = "test" if in_test_split(qid, cfg.seed, cfg.test_fraction) else "train"
            for k, (right, wrong) in enumerate(execution_pairs(labelled["samples"], cfg.execution_per_question, rng)):
                splits[split].append({"chosen": right["sql"], "chosen_distance": 0, "db_id": labelled["db_id"],
                                      "id": f"{qid}-x{k}", "kind": "execution",
                                      "prompt": inference_messages(records[qid]), "question_id": qid,
                                      "rejected": wrong["sql"], "rejected_distance": None})

    with atomic_path(args.out, is_dir=True) as out:
        for name, pairs in splits.items():
            dump_jsonl(out / f"{name}.jsonl", pairs)

    wrong_at_root = [t for t in trees if not t["solved_at_root"]]
    all_pairs = splits["train"] + splits["test"]
    metrics = {
        "questions": len(trees),
        "solved_at_root": sum(t["solved_at_root"] for t in trees),
        "solved_by_revision": sum(t["solved"] for t in wrong_at_root),
        "unsolved": sum(not t["solved"] for t in trees),
        "revision_success_rate": sum(t["solved"] for t in wrong_at_root) / max(1, len(wrong_at_root)),
        "mean_tree_size": sum(len(t["nodes"]) for t in trees) / max(1, len(trees)),
        "mean_kept_nodes": sum(n["distance"] < INF for t in trees for n in t["nodes"]) / max(1, len(trees)),
        "mean_tree_depth": sum(max((n["depth"] for n in t["nodes"]), default=0) for t in trees) / max(1, len(trees)),
        "pairs": dict(sorted(Counter(p["kind"] for p in all_pairs).items())),
        "pairs_train": len(splits["train"]),
        "pairs_test": len(splits["test"]),
    }
    write_json(args.metrics, metrics)
    summary("merge-shards", {k: v for k, v in metrics.items() if not isinstance(v, dict)})


if __name__ == "__main__":
    run_stage(main)
