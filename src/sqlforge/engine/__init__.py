"""One inference interface, chosen by `engine.backend` in params."""

from __future__ import annotations

from sqlforge.config import EngineConfig
from sqlforge.engine.base import Completion, Engine, Score, truncate_at_stop

__all__ = ["Completion", "Engine", "Score", "load_engine", "truncate_at_stop"]


def load_engine(model_path: str, cfg: EngineConfig) -> Engine:
    if cfg.backend == "vllm":
        from sqlforge.engine.vllm_backend import VLLMEngine

        return VLLMEngine(model_path, dtype=cfg.dtype, tensor_parallel_size=cfg.tensor_parallel_size,
                          gpu_memory_utilization=cfg.gpu_memory_utilization)
    from sqlforge.engine.hf import TransformersEngine

    return TransformersEngine(model_path, batch_size=cfg.batch_size, dtype=cfg.dtype)
