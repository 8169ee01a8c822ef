"""The inference interface every generating or scoring stage goes through."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence


@dataclass
class Completion:
    text: str
    token_logprobs: list[float] = field(default_factory=list)
    cumulative_logprob: float = 0.0
    finish_reason: str = "stop"  # "stop" (EOS or a stop string) | "length"


@dataclass
class Score:
    total: float
    token_logprobs: list[float]


class Engine(Protocol):
    calls: int  # model invocations (batched generate/score calls)

    def generate(self, prompts: Sequence[str], n: int = 1, temperature: float = 0.0, top_p: float = 1.0,
                 max_new_tokens: int = 128, stop: Sequence[str] = (), seed: int = 0) -> list[list[Completion]]:
        """n completions per prompt, in prompt order."""

    def score(self, prompts: Sequence[str], continuations: Sequence[str]) -> list[Score]:
        """log p(continuation | prompt), summed and per token."""


def truncate_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)
