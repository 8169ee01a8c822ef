"""Scoring candidate SQL: a trained reward model (`RewardScorer`) and the policy's own log-probability.

Training (trl RewardTrainer, conversational data) and scoring render the
same text: the inference prompt's chat messages plus the SQL as the
assistant's reply, through the tokenizer's chat template.
"""

from __future__ import annotations

from typing import Sequence

import torch

from sqlforge.device import default_device
from sqlforge.prompts import render
from sqlforge.records import conversation


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
