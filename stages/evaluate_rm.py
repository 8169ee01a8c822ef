"""evaluate-rm: what the reward model is worth on held-out pairs.

Pairwise accuracy (share of pairs where the chosen SQL scores higher) and
mean margin, overall and per pair kind, on questions never seen in training.
"""

from __future__ import annotations

import argparse

from sqlforge.cli import run_stage, summary
from sqlforge.io import read_jsonl, write_json
from sqlforge.reward import RewardScorer, pairwise_report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", default="data/pairs/test.jsonl")
    parser.add_argument("--rm", default="models/rm")
    parser.add_argument("--metrics", default="metrics/rm.json")
    args = parser.parse_args()

    pairs = read_jsonl(args.pairs)
    scorer = RewardScorer(args.rm)
    chosen = scorer.score([p["prompt"] for p in pairs], [p["chosen"] for p in pairs])
    rejected = scorer.score([p["prompt"] for p in pairs], [p["rejected"] for p in pairs])

    metrics = pairwise_report(chosen, rejected)
    metrics["by_kind"] = {}
    for kind in sorted({p["kind"] for p in pairs}):
        idx = [i for i, p in enumerate(pairs) if p["kind"] == kind]
        metrics["by_kind"][kind] = pairwise_report([chosen[i] for i in idx], [rejected[i] for i in idx])
    write_json(args.metrics, metrics)
    summary("evaluate-rm", {k: v for k, v in metrics.items() if k != "by_kind"})


if __name__ == "__main__":
    run_stage(main)
