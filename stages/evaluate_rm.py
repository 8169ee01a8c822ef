"""evaluate-rm: what the reward model is worth.

1. Held-out pairs (questions never seen in training): pairwise accuracy and
   mean margin, overall, per pair kind, and per group (a correct SQL against a
   wrong one, or two wrong ones); and the same for the SFT policy's own
   log-probability, the no-training reference the reward model must beat.
2. What users care about, on the dev candidates (greedy + N samples): execution
   accuracy of greedy, majority vote over execution results, best-of-N by the
   reward model, and pass@N, which uses the gold and is labelled oracle.
3. Calibration: share of correct candidates per reward-score decile.
"""

from __future__ import annotations

import argparse
import json

from sqlforge.stage_runner import run_stage, summary
from sqlforge.config import load_params
from sqlforge.engine import load_engine
from sqlforge.engine.base import Engine
from sqlforge.official.judge import judge_from, judging
from sqlforge.io import atomic_path, dump_jsonl, write_json
from sqlforge.records import CandidateSet, Example, Pair, inference_messages, read_records
from sqlforge.scoring.rm_report import calibration_bins, grouped_reports, pair_group, pairwise_report
from sqlforge.search.scorers import RewardScorer, policy_logprob_scores
from sqlforge.search.selection import regroup, select
from sqlforge.sandbox.executor import sandbox_executor


# transformers even when engine.backend is vllm: a few hundred forward passes, and a vLLM instance would
# keep its GPU memory (weights + KV cache, gpu_memory_utilization of the card) while the reward model loads
POLICY_BACKEND = "transformers"
POLICY_BACKEND_REASON = "evaluate-rm scores a few hundred pairs; vLLM would hold GPU memory the reward model needs"


def policy_engine(model: str, engine_cfg) -> Engine:
    """The engine scoring the policy's log-prob reference: the configured one (dtype, LoRA adapter), on
    POLICY_BACKEND."""
    return load_engine(model, engine_cfg, backend=POLICY_BACKEND, reason=POLICY_BACKEND_REASON)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", required=True)
    parser.add_argument("--pairs", required=True)
    parser.add_argument("--dev", required=True)
    parser.add_argument("--candidates", required=True)
    parser.add_argument("--rm", required=True)
    parser.add_argument("--policy", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--plots", required=True)
    parser.add_argument("--metrics", required=True)
    args = parser.parse_args()
    params = load_params(args.params)
    rules, timeout, _ = judging(params.validate, params.data.dataset)
    pairs = read_records(args.pairs, Pair)

    # 0. reference: the policy's log-prob ranks the held-out pairs with no reward training at all
    policy = policy_engine(args.policy, params.engine)
    prompts = [p["prompt"] for p in pairs]
    groups = [pair_group(p) for p in pairs]
    ref_chosen = policy_logprob_scores(policy, prompts, [p["chosen"] for p in pairs])
    ref_rejected = policy_logprob_scores(policy, prompts, [p["rejected"] for p in pairs])
    reference = {**pairwise_report(ref_chosen, ref_rejected),
                 "by_group": grouped_reports(groups, ref_chosen, ref_rejected)}
    del policy
    scorer = RewardScorer(args.rm)

    # 1. held-out pairs
    chosen = scorer.score(prompts, [p["chosen"] for p in pairs])
    rejected = scorer.score(prompts, [p["rejected"] for p in pairs])
    metrics = pairwise_report(chosen, rejected)
    metrics["by_kind"] = grouped_reports([p["kind"] for p in pairs], chosen, rejected)
    # a correct SQL against a wrong one, or two wrong SQLs ordered by revision distance alone
    metrics["by_group"] = grouped_reports(groups, chosen, rejected)
    metrics["reference_policy_logprob"] = reference

    # 2. dev candidates: scores, execution, the selectors' picks, then verdicts
    records = {r["id"]: r for r in read_records(args.dev, Example)}
    cands = read_records(args.candidates, CandidateSet)
    flat = [(c, records[c["id"]], cand) for c in cands for cand in c["candidates"]]
    scores = scorer.score([inference_messages(rec) for _, rec, _ in flat],
                          [cand["sql"] for _, _, cand in flat])
    sizes = [len(c["candidates"]) for c in cands]
    per_question = regroup(scores, sizes)
    with sandbox_executor(params.sandbox, timeout, params.validate.workers, judging=True) as executor:
        executions = executor.execute_many([(rec["db_path"], cand["sql"]) for _, rec, cand in flat])
        picks = [select(c, results, rm_scores, params.validate.rm_logprob_weight)
                 for c, results, rm_scores in zip(cands, regroup(executions, sizes), per_question)]
        recs = [records[c["id"]] for c in cands]
        judge = judge_from(params.validate, params.data.dataset, executor)
        judged = judge.verdicts([rec for _, rec, _ in flat], [cand["sql"] for _, _, cand in flat])
        selectors = {}
        for name in ("greedy", "majority_vote", "best_of_n_rm", "best_of_n_rm_logprob"):
            result = judge.verdicts(recs, [p[name] for p in picks])
            selectors[f"{name}_ex"] = sum(v["correct"] for v in result) / max(1, len(result))
    correct = [v["correct"] for v in judged]
    selectors["oracle_pass_at_n"] = sum(map(any, regroup(correct, sizes))) / max(1, len(cands))
    metrics["candidates"] = {"questions": len(cands), "candidates_per_question": len(flat) / max(1, len(cands)),
                             "rules": rules, **selectors}

    with atomic_path(args.out, is_dir=True) as out:
        dump_jsonl(out / "scores.jsonl", [{"id": c["id"], "rm_scores": s} for c, s in zip(cands, per_question)])
    with atomic_path(args.plots, is_dir=True) as plots:
        (plots / "calibration.json").write_text(json.dumps(calibration_bins(scores, correct), indent=1))
    write_json(args.metrics, metrics)
    summary("evaluate-rm", {"pairwise_accuracy": metrics["pairwise_accuracy"], "n_pairs": metrics["n_pairs"],
                            "reference_policy_logprob_accuracy": reference["pairwise_accuracy"],
                            **selectors})


if __name__ == "__main__":
    run_stage(main)
