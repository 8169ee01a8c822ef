"""sft: supervised fine-tuning with trl's SFTTrainer (LoRA, QLoRA or full).

Loss is on the SQL completion only: the data are prompt/completion chat
pairs, which SFTTrainer masks to the completion.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import torch
from datasets import Dataset
from peft import LoraConfig
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import SFTConfig, SFTTrainer

from sqlforge.cli import run_stage, summary
from sqlforge.config import load_params
from sqlforge.engine.hf import resolve_dtype
from sqlforge.io import atomic_path, read_jsonl, write_json
from sqlforge.models import resolve_model
from sqlforge.training import check_qlora, device_kwargs, last_logged, live_callback


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
        check_qlora()

    # data
    records = read_jsonl(args.data)
    if cfg.max_examples > 0:
        records = records[: cfg.max_examples]
    dataset = Dataset.from_list([{"prompt": r["prompt"], "completion": r["completion"]} for r in records])

    # model
    base = resolve_model(args.base_model)
    tokenizer = AutoTokenizer.from_pretrained(base)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model_kwargs: dict = {"dtype": resolve_dtype("auto", device)}
    if cfg.method == "qlora":
        from transformers import BitsAndBytesConfig

        model_kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16)
    torch.manual_seed(cfg.seed)
    model = AutoModelForCausalLM.from_pretrained(base, **model_kwargs)
    peft_config = None
    if cfg.method in ("lora", "qlora"):
        peft_config = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                                 target_modules=cfg.target_modules, modules_to_save=cfg.modules_to_save or None,
                                 task_type="CAUSAL_LM")

    # trainer
    work = Path(args.out).with_name(Path(args.out).name + "-work")
    training_args = SFTConfig(
        output_dir=str(work), num_train_epochs=cfg.epochs, max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.batch_size, gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.learning_rate, lr_scheduler_type=cfg.lr_scheduler, warmup_steps=cfg.warmup_ratio,
        max_length=cfg.max_length, seed=cfg.seed, data_seed=cfg.seed, logging_steps=10, save_strategy="no",
        report_to="none", dataloader_num_workers=0, completion_only_loss=True, **device_kwargs())
    shutil.rmtree(args.live, ignore_errors=True)
    trainer = SFTTrainer(model=model, args=training_args, train_dataset=dataset, processing_class=tokenizer,
                         peft_config=peft_config, callbacks=[live_callback(args.live)])
    result = trainer.train()

    # save: adapter (lora/qlora) or full model, with the tokenizer and its chat template
    with atomic_path(args.out, is_dir=True) as out:
        trainer.model.save_pretrained(out)
        tokenizer.save_pretrained(out)
        (out / "base_model.txt").write_text(base + "\n")
    shutil.rmtree(work, ignore_errors=True)

    trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    metrics = {"method": cfg.method, "examples": len(dataset), "steps": result.global_step,
               "train_loss": last_logged(trainer.state.log_history, "loss"),
               "mean_train_loss": result.training_loss, "trainable_parameters": trainable,
               "train_seconds": result.metrics.get("train_runtime")}
    write_json(args.metrics, metrics)
    summary("sft", metrics)


if __name__ == "__main__":
    run_stage(main)
