"""Reward-model inputs and batched scoring.

Training (trl RewardTrainer, conversational data) and scoring render the
same text: the inference prompt's chat messages plus the SQL as the
assistant's reply, through the tokenizer's chat template.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

from sqlforge.device import default_device
from sqlforge.prompts import render


def build_reward_trainer(cfg, dataset, base: str, work_dir: str | Path, live_dir: str | Path | None = None):
    """trl's RewardTrainer for the rm params section (`cfg`): a one-label sequence classifier on `base`,
    LoRA on every linear layer with the score head trained in full (modules_to_save), as ReSQLver's train.py."""
    from peft import LoraConfig
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from trl import RewardConfig, RewardTrainer

    from sqlforge.training import device_kwargs, live_callback

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


def conversation(prompt: list[dict], sql: str) -> list[dict]:
    return list(prompt) + [{"role": "assistant", "content": sql}]


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


class RewardScorer:
    def __init__(self, model_path: str, batch_size: int = 32, device: str | None = None):
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.device = device or default_device()
        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        self.tokenizer.padding_side = "right"
        self.model = AutoModelForSequenceClassification.from_pretrained(model_path, num_labels=1)
        self.model.to(self.device).eval()
        self.batch_size = batch_size

    @torch.inference_mode()
    def score(self, prompts: Sequence[list[dict]], sqls: Sequence[str]) -> list[float]:
        texts = [self.tokenizer.apply_chat_template(conversation(p, s), tokenize=False) for p, s in zip(prompts, sqls)]
        scores: list[float] = []
        for start in range(0, len(texts), self.batch_size):
            batch = self.tokenizer(texts[start:start + self.batch_size], padding=True, return_tensors="pt",
                                   add_special_tokens=False).to(self.device)
            scores += self.model(**batch).logits.squeeze(-1).float().cpu().tolist()
        return scores


def policy_logprob_scores(engine, prompts: Sequence[list[dict]], sqls: Sequence[str]) -> list[float]:
    """The policy's own log p(SQL | prompt): a reward that needs no training, which a trained reward
    model has to beat to be worth its stage. Rendered as generation sees the prompt."""
    return [s.total for s in engine.score([render(engine.tokenizer, p) for p in prompts], list(sqls))]


def pairwise_report(chosen: list[float], rejected: list[float]) -> dict:
    n = len(chosen)
    margins = [c - r for c, r in zip(chosen, rejected)]
    return {"pairwise_accuracy": sum(m > 0 for m in margins) / n if n else 0.0,
            "mean_margin": sum(margins) / n if n else 0.0, "n_pairs": n}


def pair_group(pair: dict) -> str:
    """Whether a pair's preference can be checked at all: "chosen_correct" pairs put a correct SQL
    against a wrong one; in "both_wrong" pairs the chosen side is only fewer revisions from a correct
    SQL, which nothing in either SQL or its prompt needs to reveal (two wrong names copied into WHERE)."""
    return "chosen_correct" if pair["chosen_distance"] == 0 else "both_wrong"


def grouped_reports(groups: list[str], chosen: list[float], rejected: list[float]) -> dict:
    """`pairwise_report` per group label, groups in sorted order."""
    return {g: pairwise_report([c for c, k in zip(chosen, groups) if k == g],
                               [r for r, k in zip(rejected, groups) if k == g]) for g in sorted(set(groups))}


def calibration_bins(scores: list[float], correct: list[bool], bins: int = 10) -> list[dict]:
    """Equal-count bins of reward score: mean score and share of correct candidates in each."""
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    out = []
    for b in range(bins):
        idx = order[b * len(order) // bins:(b + 1) * len(order) // bins]
        if idx:
            out.append({"bin": b, "mean_rm_score": sum(scores[i] for i in idx) / len(idx),
                        "fraction_correct": sum(correct[i] for i in idx) / len(idx), "candidates": len(idx)})
    return out
