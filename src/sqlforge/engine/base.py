"""The inference interface every generating or scoring stage goes through.

`Engine` lists everything a stage (or library code a stage calls) reads or
sets on an engine; every backend must provide all of it. `make typecheck`
(mypy) checks each backend against it (`sqlforge.engine._conformance`), so a
backend that lacks a member fails before any stage runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, Sequence

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


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
    # the model's tokenizer: stages render chat prompts with it, MCTS and trees cut clauses with it
    tokenizer: PreTrainedTokenizerBase
    calls: int  # model invocations (batched generate/score calls)
    requests: int  # prompts generated from or scored
    generated_tokens: int  # tokens generated, the end token not counted: tokens/s in benches
    show_progress: bool  # a stage's one long generation loop turns on a live progress bar

    def generate(self, prompts: Sequence[str], n: int = 1, temperature: float = 0.0, top_p: float = 1.0,
                 max_new_tokens: int = 128, stop: Sequence[str] = (), seed: int = 0) -> list[list[Completion]]:
        """n completions per prompt, in prompt order."""
        ...

    def score(self, prompts: Sequence[str], continuations: Sequence[str]) -> list[Score]:
        """log p(continuation | prompt), summed and per token."""
        ...


def truncate_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def kept_logprobs(tokenizer, token_ids: Sequence[int], logprobs: list[float], text: str) -> list[float]:
    """The log-probs of the generated tokens that make up `text` (the output cut at a stop string):
    every backend reports the same tokens' log-probs for the same kept text."""
    keep = 0
    while keep < len(token_ids) and len(tokenizer.decode(token_ids[:keep + 1])) <= len(text):
        keep += 1
    return logprobs[:keep]
