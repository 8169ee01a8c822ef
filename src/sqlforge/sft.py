"""SFT model and trainer construction (trl SFTTrainer on prompt/completion chat data)."""

from __future__ import annotations

from pathlib import Path

import torch
from datasets import Dataset
from peft import LoraConfig
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import SFTConfig, SFTTrainer

from sqlforge.config import SFTConfig as SFTParams
from sqlforge.device import default_device, resolve_dtype
from sqlforge.training import check_qlora, device_kwargs, live_callback


def sft_dataset(records: list[dict]) -> Dataset:
    """Conversational prompt/completion pairs: SFTTrainer puts the loss on the completion (the SQL) only."""
    return Dataset.from_list([{"prompt": r["prompt"], "completion": r["completion"]} for r in records])


def load_policy(base: str, cfg: SFTParams):
    if cfg.method == "qlora":
        check_qlora()
    kwargs: dict = {"dtype": resolve_dtype("auto", default_device())}
    if cfg.method == "qlora":
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16)
    torch.manual_seed(cfg.seed)
    return AutoTokenizer.from_pretrained(base), AutoModelForCausalLM.from_pretrained(base, **kwargs)


def lora_config(cfg: SFTParams) -> LoraConfig | None:
    if cfg.method == "full":
        return None
    return LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=cfg.target_modules, modules_to_save=cfg.modules_to_save or None,
                      task_type="CAUSAL_LM")


def build_trainer(cfg: SFTParams, dataset: Dataset, base: str, work_dir: str | Path,
                  live_dir: str | Path | None = None, resume: bool = False) -> SFTTrainer:
    tokenizer, model = load_policy(base, cfg)
    args = SFTConfig(
        output_dir=str(work_dir), num_train_epochs=cfg.epochs, max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.batch_size, gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.learning_rate, lr_scheduler_type=cfg.lr_scheduler, warmup_steps=cfg.warmup_ratio,
        max_length=cfg.max_length, seed=cfg.seed, data_seed=cfg.seed, logging_steps=10,
        save_strategy="steps" if cfg.save_steps > 0 else "no", save_steps=max(1, cfg.save_steps), save_total_limit=1,
        report_to="none", dataloader_num_workers=0, completion_only_loss=True, **device_kwargs())
    callbacks = [live_callback(live_dir, resume=resume)] if live_dir else []
    return SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                      peft_config=lora_config(cfg), callbacks=callbacks)
