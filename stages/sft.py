"""sft: supervised fine-tuning with trl's SFTTrainer (LoRA, QLoRA or full).

Loss is on the SQL completion only: the data are prompt/completion chat
pairs, which SFTTrainer masks to the completion. With `sft.launcher` set,
this script re-runs itself under `accelerate launch` (DDP or DeepSpeed ZeRO,
configs/accelerate/) with `sft.num_processes` processes on each of the `cluster`
section's machines; rank 0 writes.
The output folder also holds `sqlforge_prompt.json`: the prompt templates and
preprocess's schema options the data was built with (sqlforge.prompt_settings),
so the model is later asked exactly as it was trained.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from dataclasses import asdict
from pathlib import Path

from sqlforge import prompt_settings
from sqlforge.stage_runner import console, run_stage, summary
from sqlforge.config import load_params
from sqlforge.io import atomic_path, write_json
from sqlforge.train.launch import is_launched, is_main_process, relaunch, resume_point
from sqlforge.base_model import model_fingerprint, resolve_model
from sqlforge.records import SFTExample, read_records
from sqlforge.train.sft import build_trainer, sft_dataset
from sqlforge.train.common import (canonical_adapter_config, check_attention, check_qlora, device_kwargs, last_logged,
                               resumable_work_dir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--base-model", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--live", required=True)
    parser.add_argument("--metrics", required=True)
    args = parser.parse_args()
    params = load_params(args.params)
    cfg = params.sft
    if cfg.method == "qlora":
        check_qlora()  # before reading or loading anything
    check_attention(cfg.attn_implementation)
    device_kwargs(cfg.precision, cfg.gradient_checkpointing)
    if cfg.launcher != "none" and not is_launched():
        sys.exit(relaunch(cfg.launcher, cfg.num_processes, __file__, sys.argv[1:], params.cluster, "sft"))
    main_process = is_main_process()

    records = read_records(args.data, SFTExample)
    if cfg.max_examples > 0:
        records = records[: cfg.max_examples]
    dataset = sft_dataset(records)

    base = resolve_model(args.base_model)
    # checkpoints and curves of an unfinished run live in <out>-work, so a killed run resumes
    work = Path(args.out).with_name(Path(args.out).name + "-work")
    inputs = [asdict(cfg), hashlib.sha256(Path(args.data).read_bytes()).hexdigest(),
              model_fingerprint(base) if Path(base).is_dir() else base]
    # rank 0 prepares the work folder; other ranks read the checkpoint after the barrier below
    checkpoint = resumable_work_dir(work, hashlib.sha256(json.dumps(inputs).encode()).hexdigest()) \
        if main_process else None
    if checkpoint:
        console.print(f"sft: resuming from {checkpoint}", soft_wrap=True)
    trainer = build_trainer(cfg, dataset, base, work, live_dir=work / "live" if main_process else None,
                            resume=checkpoint is not None)
    result = trainer.train(resume_from_checkpoint=resume_point(trainer, work, checkpoint))
    # every rank takes part in saving (DeepSpeed ZeRO-3 gathers sharded weights); rank 0 publishes
    final = work / "final"
    trainer.save_model(str(final))  # adapter (lora/qlora) or full model, with the tokenizer and chat template
    if not main_process:
        return
    (final / "training_args.bin").unlink(missing_ok=True)  # run bookkeeping, not part of the model
    canonical_adapter_config(final)
    (final / "base_model.txt").write_text(base + "\n")
    prompt_settings.copy(Path(args.data).parent, final)  # preprocess wrote it beside the SFT data
    with atomic_path(args.out, is_dir=True) as out:
        shutil.copytree(final, out, dirs_exist_ok=True)
    with atomic_path(args.live, is_dir=True) as live:
        shutil.copytree(work / "live", live, dirs_exist_ok=True)
    shutil.rmtree(work, ignore_errors=True)

    trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    metrics = {"method": cfg.method, "examples": len(dataset), "steps": result.global_step,
               "processes": trainer.args.world_size, "launcher": cfg.launcher,
               "train_loss": last_logged(trainer.state.log_history, "loss", result.training_loss),
               "mean_train_loss": result.training_loss, "trainable_parameters": trainable,
               "train_seconds": result.metrics.get("train_runtime")}
    write_json(args.metrics, metrics)
    summary("sft", metrics)


if __name__ == "__main__":
    run_stage(main)
