"""sft: supervised fine-tuning with trl's SFTTrainer (LoRA, QLoRA or full).

Loss is on the SQL completion only: the data are prompt/completion chat
pairs, which SFTTrainer masks to the completion.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from sqlforge.cli import run_stage, summary
from sqlforge.config import load_params
from sqlforge.io import atomic_path, read_jsonl, write_json
from sqlforge.models import resolve_model
from sqlforge.sft import build_trainer, sft_dataset
from sqlforge.training import check_qlora, last_logged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--data", default="data/prepared/sft.jsonl")
    parser.add_argument("--base-model", default="models/base")
    parser.add_argument("--out", default="models/sft")
    parser.add_argument("--live", default="metrics/sft")
    parser.add_argument("--metrics", default="metrics/sft.json")
    args = parser.parse_args()
    cfg = load_params(args.params).sft
    if cfg.method == "qlora":
        check_qlora()  # before reading or loading anything

    records = read_jsonl(args.data)
    if cfg.max_examples > 0:
        records = records[: cfg.max_examples]
    dataset = sft_dataset(records)

    base = resolve_model(args.base_model)
    work = Path(args.out).with_name(Path(args.out).name + "-work")
    shutil.rmtree(args.live, ignore_errors=True)
    trainer = build_trainer(cfg, dataset, base, work, live_dir=args.live)
    result = trainer.train()

    # adapter (lora/qlora) or full model, with the tokenizer and its chat template
    with atomic_path(args.out, is_dir=True) as out:
        trainer.model.save_pretrained(out)
        trainer.processing_class.save_pretrained(out)
        (out / "base_model.txt").write_text(base + "\n")
    shutil.rmtree(work, ignore_errors=True)

    trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    metrics = {"method": cfg.method, "examples": len(dataset), "steps": result.global_step,
               "train_loss": last_logged(trainer.state.log_history, "loss", result.training_loss),
               "mean_train_loss": result.training_loss, "trainable_parameters": trainable,
               "train_seconds": result.metrics.get("train_runtime")}
    write_json(args.metrics, metrics)
    summary("sft", metrics)


if __name__ == "__main__":
    run_stage(main)
