"""The reward model's trainer and training records: trl's RewardTrainer on preference pairs in
conversational form, rendered as `search.scorers.RewardScorer` renders what it scores."""

from __future__ import annotations

from pathlib import Path

import torch


def build_reward_trainer(cfg, dataset, base: str, work_dir: str | Path, live_dir: str | Path | None = None):
    """trl's RewardTrainer for the rm params section (`cfg`): a one-label sequence classifier on `base`,
    LoRA on every linear layer with the score head trained in full (modules_to_save), as ReSQLver's train.py."""
    from peft import LoraConfig
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from trl import RewardConfig, RewardTrainer

    from sqlforge.train.common import device_kwargs, live_callback

    tokenizer = AutoTokenizer.from_pretrained(base)
    torch.manual_seed(cfg.seed)
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1, dtype="auto")
    model.config.pad_token_id = tokenizer.pad_token_id
    peft_config = LoraConfig(task_type="SEQ_CLS", r=cfg.lora_r, lora_alpha=cfg.lora_alpha,
                             lora_dropout=cfg.lora_dropout, target_modules="all-linear", modules_to_save=["score"])
    args = RewardConfig(
        output_dir=str(work_dir), num_train_epochs=cfg.epochs, max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.batch_size, gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.learning_rate, weight_decay=cfg.weight_decay, max_length=cfg.max_length,
        center_rewards_coefficient=cfg.center_rewards_coefficient, seed=cfg.seed, data_seed=cfg.seed,
        logging_steps=5, save_strategy="no", report_to="none", dataloader_num_workers=0, **device_kwargs())
    callbacks = [live_callback(live_dir)] if live_dir else []
    return RewardTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                         peft_config=peft_config, callbacks=callbacks)


def distance_gap(pair: dict, unreachable: int) -> int:
    """How many revisions closer to a correct SQL the chosen side is; an unreachable side (distance
    None, i.e. infinite) counts as `unreachable`."""
    chosen, rejected = (unreachable if d is None else d for d in (pair["chosen_distance"], pair["rejected_distance"]))
    return rejected - chosen


def rm_record(pair: dict, margin_scale: float = 0.0, unreachable: int = 3) -> dict:
    """A pair in RewardTrainer's conversational form; rendered the same way `RewardScorer` renders.
    With `margin_scale` > 0 the pair carries trl's `margin` column: the loss then asks the chosen
    reward to lead by more when the distance gap is larger."""
    record = {"prompt": pair["prompt"], "chosen": [{"role": "assistant", "content": pair["chosen"]}],
              "rejected": [{"role": "assistant", "content": pair["rejected"]}]}
    if margin_scale > 0:
        record["margin"] = margin_scale * distance_gap(pair, unreachable)
    return record
