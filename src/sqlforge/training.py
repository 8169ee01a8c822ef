"""Shared pieces of the training stages (sft, train-rm): device choice, LoRA, logging."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

from sqlforge.io import InputError


def device_kwargs() -> dict:
    """TrainingArguments that pick CPU fp32 or GPU bf16 from the hardware, never from code edits."""
    if torch.cuda.is_available():
        return {"bf16": torch.cuda.is_bf16_supported(), "gradient_checkpointing": True}
    return {"use_cpu": True, "bf16": False, "fp16": False, "gradient_checkpointing": False}


def check_qlora() -> None:
    """QLoRA needs bitsandbytes and a CUDA GPU: fail before loading anything."""
    if not torch.cuda.is_available():
        raise InputError("params.yaml: sft.method=qlora needs a CUDA GPU; use lora or full on CPU")
    if importlib.util.find_spec("bitsandbytes") is None:
        raise InputError("params.yaml: sft.method=qlora needs bitsandbytes: pip install 'sqlforge[gpu]'")


def live_callback(directory: str | Path):
    """DVCLive logging that neither rewrites dvc.yaml nor creates experiments (plots are declared by us)."""
    from dvclive import Live
    from dvclive.huggingface import DVCLiveCallback

    return DVCLiveCallback(live=Live(str(directory), dvcyaml=False, save_dvc_exp=False, report=None))


def last_logged(log_history: list[dict], key: str, default: float) -> float:
    """The last logged value of `key` (the final loss, not the run's mean), or `default` if none was logged."""
    values = [entry[key] for entry in log_history if key in entry]
    return float(values[-1]) if values else float(default)
