"""One inference interface, chosen by `engine.backend` in params.

Every stage gets its engine from `load_engine`. A stage that must not use the
configured backend says so at the call site (`backend=..., reason=...`); the
rest of `engine` (dtype, LoRA adapter, batch size) still applies.
"""

from __future__ import annotations

import json
from pathlib import Path

from sqlforge.config import EngineConfig
from sqlforge.engine.base import Completion, Engine, Score, kept_logprobs, truncate_at_stop
from sqlforge.io import InputError

__all__ = ["BACKENDS", "Completion", "Engine", "Score", "adapter_base", "check_servable_by_vllm", "kept_logprobs",
           "load_engine", "truncate_at_stop"]

BACKENDS = ("transformers", "vllm")


def _adapter_config(adapter: str | Path) -> tuple[Path, dict]:
    path = Path(adapter) / "adapter_config.json"
    if not path.is_file():
        raise InputError(f"{path}: engine.lora_adapter must be a LoRA adapter folder (adapter_config.json missing)")
    return path, json.loads(path.read_text())


def adapter_base(adapter: str | Path) -> tuple[str, int]:
    """The base model a LoRA adapter folder was trained on, and its rank."""
    _, config = _adapter_config(adapter)
    return config["base_model_name_or_path"], int(config.get("r", 16))


def check_servable_by_vllm(adapter: str | Path) -> None:
    """vLLM 0.33 serves LoRA matrices only: fully trained modules (peft's modules_to_save, e.g. the
    demo's embed_tokens and lm_head) it accepts only as a classifier head, so refuse before it starts."""
    path, config = _adapter_config(adapter)
    if config.get("modules_to_save"):
        raise InputError(f"{path}: engine.backend=vllm cannot serve an adapter with modules_to_save "
                         f"{sorted(config['modules_to_save'])}; train with sft.modules_to_save: [] or serve the "
                         "merged model (engine.lora_adapter: \"\")")


def load_engine(model_path: str, cfg: EngineConfig, backend: str | None = None, reason: str = "") -> Engine:
    """The engine for `model_path`, or for the base model plus `cfg.lora_adapter` when that is set.

    `backend` overrides `cfg.backend` for one stage; it needs a `reason` (shown in the stage's log and
    kept next to the call), so a stage never silently ignores the configured backend. With
    `engine.data_parallel: ray` the engine is that backend in `engine.ray_workers` Ray workers (ray_pool)."""
    if backend is not None and backend != cfg.backend and not reason:
        raise ValueError(f"load_engine: backend={backend!r} overrides engine.backend={cfg.backend!r} without a reason")
    chosen = backend or cfg.backend
    if chosen not in BACKENDS:
        raise ValueError(f"load_engine: unknown backend {chosen!r}; one of {BACKENDS}")
    if chosen != cfg.backend:
        from sqlforge.stage_runner import console

        console.print(f"engine: {chosen} instead of engine.backend={cfg.backend} ({reason})", soft_wrap=True)
    base, rank = adapter_base(cfg.lora_adapter) if cfg.lora_adapter else (model_path, 0)
    if cfg.data_parallel == "ray":
        import dataclasses
        import typing

        from sqlforge.engine.ray_pool import RayEngine

        if chosen == "vllm" and cfg.lora_adapter:
            check_servable_by_vllm(cfg.lora_adapter)  # before any worker starts
        # each worker builds the chosen backend itself (load_engine with data_parallel none)
        pooled = dataclasses.replace(cfg, backend=typing.cast(typing.Literal["transformers", "vllm"], chosen))
        return RayEngine(model_path, pooled, tokenizer_path=base, build=load_engine)
    if chosen == "vllm":
        from sqlforge.engine.vllm_backend import VLLMEngine

        if cfg.lora_adapter:
            check_servable_by_vllm(cfg.lora_adapter)

        return VLLMEngine(base, dtype=cfg.dtype, tensor_parallel_size=cfg.tensor_parallel_size,
                          gpu_memory_utilization=cfg.gpu_memory_utilization, lora_path=cfg.lora_adapter or None,
                          lora_rank=rank)
    from sqlforge.engine.hf import TransformersEngine

    return TransformersEngine(base, batch_size=cfg.batch_size, dtype=cfg.dtype, lora_path=cfg.lora_adapter or None,
                              prefix_cache_tokens=cfg.prefix_cache_tokens)
