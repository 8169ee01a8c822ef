"""Static check, never imported at run time: every backend provides the whole `Engine` Protocol.

mypy (`make typecheck`) checks these returns; a backend that lacks a member the
stages use (say `tokenizer`), or whose `generate`/`score` signature differs,
fails the type check. (A Protocol with attributes cannot be checked through
`type[Engine]`; an instance passed where an `Engine` is expected can.)
"""

from __future__ import annotations

from sqlforge.engine.base import Engine
from sqlforge.engine.hf import TransformersEngine
from sqlforge.engine.ray_pool import RayEngine
from sqlforge.engine.vllm_backend import VLLMEngine


def transformers_engine(engine: TransformersEngine) -> Engine:
    return engine


def vllm_engine(engine: VLLMEngine) -> Engine:
    return engine


def ray_engine(engine: RayEngine) -> Engine:
    return engine
