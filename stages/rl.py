"""rl: the merged SFT policy trained further on execution feedback, then asked the dev questions greedily.

`rl.method`:
- grpo: trl's GRPOTrainer on train questions; each rollout's SQL runs in the
  sandbox against the gold (data.execution.ExecutionReward: Arctic-Text2SQL-R1's
  1 / 0.1 / 0 by default). With drop_uniform_groups, only questions whose
  policy samples (policy-samples) were neither all right nor all wrong train:
  a group with one reward has zero advantage and teaches nothing.
- dpo: trl's DPOTrainer on execution-verified pairs of the policy's own
  samples, a right SQL against a wrong one for the same question (ExCoT).
- none: no training; the outputs say so and validate has no greedy_rl.
The LoRA adapter is merged into a plain model folder (like models/merged), whose
greedy SQL on the dev questions (inference prompts, no gold) validate scores as
`greedy_rl` beside the SFT policy's `greedy`. With `rl.launcher` set, the stage
re-runs itself under `accelerate launch` (as sft does) with `rl.num_processes`
processes on each of the `cluster` section's machines: each process takes its
own `prompts_per_step` questions (or pairs) a step and judges its own rollouts;
rank 0 alone writes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch
from datasets import Dataset

from sqlforge import prompt_settings
from sqlforge.base_model import model_fingerprint
from sqlforge.config import load_params
from sqlforge.data.execution import ExecutionReward, execution_pairs
from sqlforge.engine import load_engine
from sqlforge.extract import extract_sql
from sqlforge.io import InputError, atomic_path, dump_jsonl, write_json
from sqlforge.official.judge import judge_from
from sqlforge.prompts import example_prompt
from sqlforge.records import Example, PolicySamples, inference_messages, read_records
from sqlforge.sandbox.executor import sandbox_executor
from sqlforge.stage_runner import console, run_stage, summary
from sqlforge.train.common import canonical_adapter_config, last_logged, resumable_work_dir
from sqlforge.train.launch import is_launched, is_main_process, relaunch, resume_point
from sqlforge.train.rl import build_dpo_trainer, build_grpo_trainer

SAVE_STEPS = 25  # checkpoint interval: a killed run resumes from its last checkpoint (<out>-work)


def grpo_dataset(records: dict[str, dict], samples: list[dict], drop_uniform: bool) -> Dataset:
    """Every train question, or with `drop_uniform` those whose policy samples were mixed."""
    ids = [s["id"] for s in samples if 0 < sum(x["correct"] for x in s["samples"]) < len(s["samples"])] \
        if drop_uniform else sorted(records)
    return Dataset.from_list([{"prompt": inference_messages(records[q]), "question_id": q} for q in ids])


def dpo_dataset(records: dict[str, dict], samples: list[dict], per_question: int, seed: int) -> Dataset:
    rng = random.Random(seed)
    rows = [{"prompt": inference_messages(records[s["id"]]),
             "chosen": [{"role": "assistant", "content": right["sql"]}],
             "rejected": [{"role": "assistant", "content": wrong["sql"]}]}
            for s in samples for right, wrong in execution_pairs(s["samples"], per_question, rng)]
    return Dataset.from_list(rows)


def reward_executor(params):
    """The sandbox executor judging rollouts: the rl section's timeout and workers, the sandbox's bounds."""
    return sandbox_executor(params.sandbox, params.rl.timeout_s, params.rl.workers, judging=True)


def execution_reward(params, records: dict[str, dict], executor) -> ExecutionReward:
    """GRPO's reward: each rollout judged by the dataset's validate rules, weighted by rl.reward."""
    weights = params.rl.reward
    return ExecutionReward(records, judge_from(params.validate, params.data.dataset, executor),
                           weights.correct, weights.runs, weights.fails)


def curves(log_history: list[dict]) -> dict:
    """The run's logged curves, summarised: first and last reward mean, mean share of zero-variance groups."""
    def logged(key):
        return [entry[key] for entry in log_history if key in entry]
    out = {}
    for key in ("reward", "reward_std", "frac_reward_zero_std", "kl", "loss", "rewards/chosen", "rewards/accuracies"):
        values = logged(key)
        if values:
            name = key.replace("/", "_")
            out[f"{name}_first"], out[f"{name}_last"] = float(values[0]), float(values[-1])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", required=True)
    parser.add_argument("--train", required=True)
    parser.add_argument("--samples", required=True)
    parser.add_argument("--policy", required=True)
    parser.add_argument("--dev", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--predictions", required=True)
    parser.add_argument("--live", required=True)
    parser.add_argument("--metrics", required=True)
    args = parser.parse_args()
    params = load_params(args.params)
    cfg = params.rl

    if cfg.method == "none":  # no model folder to copy and nothing for validate to score
        with atomic_path(args.out, is_dir=True) as out:
            (out / "rl_method.txt").write_text("none: no rl training (rl.method); validate has no greedy_rl\n")
        with atomic_path(args.predictions, is_dir=True) as preds:
            dump_jsonl(preds / "dev.jsonl", [])
        with atomic_path(args.live, is_dir=True):
            pass
        write_json(args.metrics, {"method": "none"})
        summary("rl", {"method": "none"})
        return

    if cfg.launcher != "none" and not is_launched():
        sys.exit(relaunch(cfg.launcher, cfg.num_processes, __file__, sys.argv[1:], params.cluster, "rl"))
    main_process = is_main_process()

    # data: train questions and the policy's own labelled samples of them
    records = {r["id"]: r for r in read_records(args.train, Example)}
    samples = read_records(args.samples, PolicySamples)
    unknown = next((s["id"] for s in samples if s["id"] not in records), None)
    if unknown is not None:
        raise InputError(f"{args.samples}: question {unknown!r} is not in {args.train}")
    if cfg.method == "grpo":
        dataset = grpo_dataset(records, samples, cfg.drop_uniform_groups)
    else:
        dataset = dpo_dataset(records, samples, cfg.pairs_per_question, cfg.seed)
    if len(dataset) == 0:
        raise InputError(f"{args.samples}: no {'mixed question' if cfg.method == 'grpo' else 'right/wrong pair'} "
                         "to train on (every question's samples were all right or all wrong)")

    # trainer: checkpoints of an unfinished run live in <out>-work, reused only by a run with the same inputs
    work = Path(args.out).with_name(Path(args.out).name + "-work")
    inputs = [asdict(cfg), asdict(params.engine), hashlib.sha256(Path(args.samples).read_bytes()).hexdigest(),
              hashlib.sha256(Path(args.train).read_bytes()).hexdigest(), model_fingerprint(args.policy)]
    # (rank 0 prepares the folder; under a launcher the other ranks find its checkpoint after a barrier)
    checkpoint = resumable_work_dir(work, hashlib.sha256(json.dumps(inputs).encode()).hexdigest()) \
        if main_process else None
    if checkpoint:
        console.print(f"rl: resuming from {checkpoint}", soft_wrap=True)
    live = work / "live" if main_process else None
    with reward_executor(params) as executor:  # one sandbox per process, judging that process's rollouts
        reward = execution_reward(params, records, executor)
        if cfg.method == "grpo":
            trainer = build_grpo_trainer(cfg, dataset, args.policy, reward, params.engine, work, live,
                                         resume=checkpoint is not None, save_steps=SAVE_STEPS)
        else:
            trainer = build_dpo_trainer(cfg, dataset, args.policy, work, live, resume=checkpoint is not None,
                                        save_steps=SAVE_STEPS)
        result = trainer.train(resume_from_checkpoint=resume_point(trainer, work, checkpoint))
    # every process judged its own rollouts: their sum is the run's
    judged = int(trainer.accelerator.reduce(torch.tensor(reward.calls, device=trainer.accelerator.device),
                                            reduction="sum").item())
    if not main_process:
        return

    # save: the adapter folded into a plain model folder, asked with the policy's prompt settings
    with atomic_path(args.out, is_dir=True) as out:
        trainer.model.save_pretrained(out / "adapter")
        canonical_adapter_config(out / "adapter")
        trainer.model.merge_and_unload().save_pretrained(out)
        trainer.processing_class.save_pretrained(out)
        prompt_settings.copy(Path(args.policy), out)
    with atomic_path(args.live, is_dir=True) as live:
        shutil.copytree(work / "live", live, dirs_exist_ok=True)
    shutil.rmtree(work, ignore_errors=True)

    # the improved policy's greedy SQL on the dev questions, scored by validate as greedy_rl
    dev = read_records(args.dev, Example)
    engine = load_engine(args.out, params.engine)
    start = time.monotonic()
    greedy = engine.generate([example_prompt(engine.tokenizer, r) for r in dev], n=1, temperature=0.0,
                             max_new_tokens=params.engine.budget(cfg.max_new_tokens))
    with atomic_path(args.predictions, is_dir=True) as preds:
        dump_jsonl(preds / "dev.jsonl", [
            {"id": r["id"], "db_id": r["db_id"],
             "candidates": [{"sql": extract_sql(g[0].text), "logprob": g[0].cumulative_logprob, "source": "greedy"}]}
            for r, g in zip(dev, greedy)])

    metrics = {"method": cfg.method, "train_examples": len(dataset), "steps": result.global_step,
               "processes": trainer.args.world_size, "launcher": cfg.launcher,
               "train_loss": last_logged(trainer.state.log_history, "loss", result.training_loss),
               "rollouts_judged": judged, **curves(trainer.state.log_history),
               "train_seconds": result.metrics.get("train_runtime"),
               "dev_greedy_seconds": time.monotonic() - start}
    write_json(args.metrics, metrics)
    summary("rl", metrics)


if __name__ == "__main__":
    run_stage(main)
