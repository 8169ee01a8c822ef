"""Hardware choices made from what is present, never by editing code."""

from __future__ import annotations

import torch


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def bf16_supported(device: str | None = None) -> bool:
    """The one rule behind every "auto" precision: bf16 on a CUDA GPU that has it, else fp32."""
    return (device or default_device()) == "cuda" and torch.cuda.is_bf16_supported()


def resolve_dtype(name: str, device: str) -> torch.dtype:
    """Engine dtype: "auto" follows `bf16_supported`; otherwise a torch dtype name."""
    if name == "auto":
        return torch.bfloat16 if bf16_supported(device) else torch.float32
    return getattr(torch, name)
