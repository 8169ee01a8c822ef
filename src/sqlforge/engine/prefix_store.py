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
        self.reused_tokens = 0

    def clear(self) -> None:
        self.blocks.clear()

    def __len__(self) -> int:
        return len(self.blocks) * self.block

    def lookup_blocks(self, tokens: Sequence[int]) -> tuple[int, list[LayerKV]]:
        """(n, the stored blocks that make up tokens[:n]) for the longest stored prefix of `tokens`."""
        found: list[LayerKV] = []
        for end in range(self.block, len(tokens) + 1, self.block):
            key = tuple(tokens[:end])
            layers = self.blocks.get(key)
            if layers is None:
                break
            self.blocks.move_to_end(key)
            found.append(layers)
        n = len(found) * self.block
        self.reused_tokens += n
        return n, found

    def add(self, tokens: Sequence[int], layers: LayerKV, offset: int = 0) -> None:
        """Store the whole blocks of `tokens` from `offset` (a block boundary) on; `layers` is the
        KV of tokens[offset:], one position per token."""
        if self.max_tokens <= 0:
            return
        for end in range(offset + self.block, len(tokens) + 1, self.block):
            key = tuple(tokens[:end])
            if key in self.blocks:
                self.blocks.move_to_end(key)
                continue
            # clone: a view would keep the whole batch's cache tensor alive
            at = end - offset - self.block
            self.blocks[key] = [(k[:, at:at + self.block].clone(), v[:, at:at + self.block].clone())
                                for k, v in layers]
        while len(self) > self.max_tokens:
            self.blocks.popitem(last=False)
