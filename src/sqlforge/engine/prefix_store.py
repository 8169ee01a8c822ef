"""Prompt-prefix KV kept across engine calls (automatic prefix caching, as vLLM does).

MCTS, revision trees and candidate sampling send the same schema prompt to the
model again and again, call after call. The keys and values of a prompt's first
tokens depend only on those tokens, so they are computed once and reused. The
store holds blocks of `block` tokens, each keyed by every token up to the
block's end (so a block is only reused after the identical prefix), and drops
the least recently used blocks beyond `max_tokens`.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

import torch

# one (keys, values) pair per layer, each (kv heads, tokens, head dim)
LayerKV = list[tuple[torch.Tensor, torch.Tensor]]


class PrefixStore:
    def __init__(self, max_tokens: int, block: int = 16):
        self.max_tokens = max_tokens
        self.block = block
        self.blocks: OrderedDict[tuple[int, ...], LayerKV] = OrderedDict()
        self.looked_up_tokens = 0
        self.reused_tokens = 0

    def clear(self) -> None:
        self.blocks.clear()

    def __len__(self) -> int:
        return len(self.blocks) * self.block

    def lookup(self, tokens: Sequence[int]) -> tuple[int, LayerKV | None]:
        """(n, KV of tokens[:n]) for the longest stored prefix of `tokens`; (0, None) if none."""
        self.looked_up_tokens += len(tokens)
        found: list[LayerKV] = []
        for end in range(self.block, len(tokens) + 1, self.block):
            key = tuple(tokens[:end])
            layers = self.blocks.get(key)
            if layers is None:
                break
            self.blocks.move_to_end(key)
            found.append(layers)
        if not found:
            return 0, None
        n = len(found) * self.block
        self.reused_tokens += n
        merged = [(torch.cat([b[i][0] for b in found], dim=1), torch.cat([b[i][1] for b in found], dim=1))
                  for i in range(len(found[0]))]
        return n, merged

    def add(self, tokens: Sequence[int], layers: LayerKV) -> None:
        """Store the full blocks of `tokens`, whose KV is `layers` (one position per token)."""
        if self.max_tokens <= 0:
            return
        for end in range(self.block, len(tokens) + 1, self.block):
            key = tuple(tokens[:end])
            if key in self.blocks:
                self.blocks.move_to_end(key)
                continue
            # clone: a view would keep the whole batch's cache tensor alive
            self.blocks[key] = [(k[:, end - self.block:end].clone(), v[:, end - self.block:end].clone())
                                for k, v in layers]
        while len(self) > self.max_tokens:
            self.blocks.popitem(last=False)
