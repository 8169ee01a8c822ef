"""train-rm: a Bradley-Terry reward model on the revision-tree pairs (trl RewardTrainer).

AutoModelForSequenceClassification with one label, LoRA with the score head
in modules_to_save; saved merged, so evaluate-rm and mcts-explore load a
plain model folder (the adapter is kept beside it).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import torch
from datasets import Dataset
from peft import LoraConfig
from transformers import AutoModelForSequenceClassification, AutoTokenizer
from trl import RewardConfig, RewardTrainer

from sqlforge.cli import run_stage, summary
from sqlforge.config import load_params
from sqlforge.io import InputError, atomic_path, read_jsonl, write_json
from sqlforge.reward import rm_record
from sqlforge.training import canonical_adapter_config, device_kwargs, last_logged, live_callback


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--pairs", default="data/pairs/train.jsonl")
    parser.add_argument("--sft-model", default="models/merged")
    parser.add_argument("--out", default="models/rm")
    parser.add_argument("--live", default="metrics/rm_train")
    parser.add_argument("--metrics", default="metrics/train_rm.json")
    args = parser.parse_args()
    params = load_params(args.params)
    cfg = params.rm

    # data: conversational prompt + one-message completions
    pairs = read_jsonl(args.pairs)
    if not pairs:
        raise InputError(f"{args.pairs}: no training pairs (tree-build found no revision pairs)")
    # an unreachable node counts as one revision beyond the largest finite distance (max_depth - 1)
    unreachable = params.tree.max_depth
    dataset = Dataset.from_list([rm_record(p, cfg.margin_scale, unreachable) for p in pairs])

    # model
    base = args.sft_model if cfg.base == "sft" else cfg.base
    tokenizer = AutoTokenizer.from_pretrained(base)
    torch.manual_seed(cfg.seed)
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1, dtype="auto")
    model.config.pad_token_id = tokenizer.pad_token_id
    peft_config = LoraConfig(task_type="SEQ_CLS", r=cfg.lora_r, lora_alpha=cfg.lora_alpha,
                             lora_dropout=cfg.lora_dropout, target_modules="all-linear", modules_to_save=["score"])

    # trainer
    work = Path(args.out).with_name(Path(args.out).name + "-work")
    training_args = RewardConfig(
        output_dir=str(work), num_train_epochs=cfg.epochs, max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.batch_size, gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.learning_rate, weight_decay=cfg.weight_decay, max_length=cfg.max_length,
        center_rewards_coefficient=cfg.center_rewards_coefficient, seed=cfg.seed, data_seed=cfg.seed,
        logging_steps=5, save_strategy="no", report_to="none", dataloader_num_workers=0, **device_kwargs())
    shutil.rmtree(args.live, ignore_errors=True)
    trainer = RewardTrainer(model=model, args=training_args, train_dataset=dataset, processing_class=tokenizer,
                            peft_config=peft_config, callbacks=[live_callback(args.live)])
    # trl's RewardTrainer silently drops pairs whose chosen or rejected side tokenizes to more than
    # max_length tokens (prompt included): count what it really trains on
    trained = len(trainer.train_dataset)
    if trained == 0:
        raise InputError(f"{args.pairs}: all {len(dataset)} pairs are longer than rm.max_length={cfg.max_length} tokens")
    result = trainer.train()

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
