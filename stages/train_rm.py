"""train-rm: a Bradley-Terry reward model on the revision-tree pairs (trl RewardTrainer).

AutoModelForSequenceClassification with one label, LoRA with the score head
in modules_to_save; saved merged, so evaluate-rm and mcts-explore load a
plain model folder (the adapter is kept beside it). With `rm.launcher` set, the
script re-runs itself under `accelerate launch` (sqlforge.train.launch) with
`rm.num_processes` processes on each of the `cluster` section's machines; rank 0 writes.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from datasets import Dataset

from sqlforge.stage_runner import run_stage, summary
from sqlforge.config import load_params
from sqlforge.io import InputError, atomic_path, write_json
from sqlforge.records import Pair, read_records
from sqlforge.train.launch import is_launched, is_main_process, relaunch
from sqlforge.train.reward_model import build_reward_trainer, rm_record
from sqlforge.train.common import canonical_adapter_config, last_logged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", required=True)
    parser.add_argument("--pairs", required=True)
    parser.add_argument("--sft-model", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--live", required=True)
    parser.add_argument("--metrics", required=True)
    args = parser.parse_args()
    params = load_params(args.params)
    cfg = params.rm
    if cfg.launcher != "none" and not is_launched():
        sys.exit(relaunch(cfg.launcher, cfg.num_processes, __file__, sys.argv[1:], params.cluster, "rm"))

    # data: conversational prompt + one-message completions
    pairs = read_records(args.pairs, Pair)
    if not pairs:
        raise InputError(f"{args.pairs}: no training pairs (tree-build found no revision pairs)")
    # an unreachable node counts as one revision beyond the largest finite distance (max_depth - 1)
    unreachable = params.tree.max_depth
    dataset = Dataset.from_list([rm_record(p, cfg.margin_scale, unreachable) for p in pairs])

    # model and trainer
    base = args.sft_model if cfg.base == "sft" else cfg.base
    work = Path(args.out).with_name(Path(args.out).name + "-work")
    main_process = is_main_process()
    if main_process:
        shutil.rmtree(args.live, ignore_errors=True)
    trainer = build_reward_trainer(cfg, dataset, base, work, args.live if main_process else None)
    tokenizer = trainer.processing_class
    # trl's RewardTrainer silently drops pairs whose chosen or rejected side tokenizes to more than
    # max_length tokens (prompt included): count what it really trains on
    trained = len(trainer.train_dataset)
    if trained == 0:
        raise InputError(f"{args.pairs}: all {len(dataset)} pairs are longer than rm.max_length={cfg.max_length} tokens")
    result = trainer.train()
    if not main_process:
        return

    # save: merged reward model, adapter beside it
    with atomic_path(args.out, is_dir=True) as out:
        trainer.model.save_pretrained(out / "adapter")
        canonical_adapter_config(out / "adapter")
        merged = trainer.model.merge_and_unload()
        merged.save_pretrained(out)
        tokenizer.save_pretrained(out)
    shutil.rmtree(work, ignore_errors=True)

    metrics = {"pairs": len(dataset), "pairs_trained": trained, "pairs_dropped_too_long": len(dataset) - trained,
               "steps": result.global_step,
               "train_loss": last_logged(trainer.state.log_history, "loss", result.training_loss),
               "mean_train_loss": result.training_loss, "train_seconds": result.metrics.get("train_runtime")}
    write_json(args.metrics, metrics)
    summary("train-rm", metrics)


if __name__ == "__main__":
    run_stage(main)
