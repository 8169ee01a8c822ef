"""One inference interface, chosen by `engine.backend` in params."""

from __future__ import annotations

import json
from pathlib import Path

from sqlforge.config import EngineConfig
from sqlforge.engine.base import Completion, Engine, Score, truncate_at_stop
from sqlforge.io import InputError

__all__ = ["Completion", "Engine", "Score", "adapter_base", "load_engine", "truncate_at_stop"]


def adapter_base(adapter: str | Path) -> tuple[str, int]:
    """The base model a LoRA adapter folder was trained on, and its rank."""
    path = Path(adapter) / "adapter_config.json"
    if not path.is_file():
        raise InputError(f"{path}: engine.lora_adapter must be a LoRA adapter folder (adapter_config.json missing)")
    config = json.loads(path.read_text())
    return config["base_model_name_or_path"], int(config.get("r", 16))


def load_engine(model_path: str, cfg: EngineConfig) -> Engine:
    """The engine for `model_path`, or for the base model plus `cfg.lora_adapter` when that is set."""
    base, rank = adapter_base(cfg.lora_adapter) if cfg.lora_adapter else (model_path, 0)
    if cfg.backend == "vllm":
        from sqlforge.engine.vllm_backend import VLLMEngine

        return VLLMEngine(base, dtype=cfg.dtype, tensor_parallel_size=cfg.tensor_parallel_size,
                          gpu_memory_utilization=cfg.gpu_memory_utilization, lora_path=cfg.lora_adapter or None,
                          max_lora_rank=rank)
    from sqlforge.engine.hf import TransformersEngine

    return TransformersEngine(base, batch_size=cfg.batch_size, dtype=cfg.dtype, lora_path=cfg.lora_adapter or None,
                              prefix_cache_tokens=cfg.prefix_cache_tokens)
