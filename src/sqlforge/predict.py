"""Greedy SQL predictions for example records through the engine."""

from __future__ import annotations

from sqlforge.extract import extract_sql
from sqlforge.prompts import example_prompt


def greedy_predictions(engine, tokenizer, records: list[dict], max_new_tokens: int, seed: int = 0) -> list[str]:
    prompts = [example_prompt(tokenizer, rec) for rec in records]
    outputs = engine.generate(prompts, n=1, temperature=0.0, max_new_tokens=max_new_tokens, seed=seed)
    return [extract_sql(out[0].text) for out in outputs]
