"""Shared pieces of the training stages (sft, train-rm): device choice, LoRA, logging."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import shutil
from pathlib import Path

import torch

from sqlforge.device import bf16_supported
from sqlforge.io import InputError


def device_kwargs(precision: str = "auto", gradient_checkpointing: str = "auto") -> dict:
    """TrainingArguments for CPU or GPU, from params ("auto" = detected from the hardware), never code edits."""
    cuda = torch.cuda.is_available()
    if precision == "auto":
        precision = "bf16" if bf16_supported() else "fp32"
    if precision == "fp16" and not cuda:
        raise InputError("params.yaml: sft.precision=fp16 needs a CUDA GPU; use fp32 or bf16 on CPU")
    checkpointing = cuda if gradient_checkpointing == "auto" else gradient_checkpointing == "on"
    kwargs = {"bf16": precision == "bf16", "fp16": precision == "fp16", checkpointing_argument(): checkpointing}
    return kwargs if cuda else {"use_cpu": True, **kwargs}


def checkpointing_argument() -> str:
    """The TrainingArguments field that switches activation checkpointing: transformers 5.23 (the CPU
    lock) calls it `activation_checkpointing` (`gradient_checkpointing` is its deprecated alias), 5.20
    (the GPU lock, what vLLM 0.33 accepts) has only `gradient_checkpointing`."""
    from transformers import TrainingArguments

    fields = {f.name for f in dataclasses.fields(TrainingArguments)}
    return "activation_checkpointing" if "activation_checkpointing" in fields else "gradient_checkpointing"


def weights_dtype(precision: str) -> torch.dtype:
    """dtype the model is loaded in: bf16 weights for bf16 training, fp32 otherwise (fp16 runs as AMP)."""
    if precision == "auto":
        precision = "bf16" if bf16_supported() else "fp32"
    return torch.bfloat16 if precision == "bf16" else torch.float32


def check_attention(attn_implementation: str) -> dict:
    """Model kwargs for the attention kernel; flash attention is checked before anything loads."""
    if attn_implementation == "auto":
        return {}
    if attn_implementation == "flash_attention_2":
        if not torch.cuda.is_available():
            raise InputError("params.yaml: sft.attn_implementation=flash_attention_2 needs a CUDA GPU")
        if importlib.util.find_spec("flash_attn") is None:
            raise InputError("params.yaml: sft.attn_implementation=flash_attention_2 needs flash-attn: "
                             "pip install flash-attn --no-build-isolation")
    return {"attn_implementation": attn_implementation}


def check_qlora() -> None:
    """QLoRA needs bitsandbytes and a CUDA GPU: fail before loading anything."""
    if not torch.cuda.is_available():
        raise InputError("params.yaml: sft.method=qlora needs a CUDA GPU; use lora or full on CPU")
    if importlib.util.find_spec("bitsandbytes") is None:
        raise InputError("params.yaml: sft.method=qlora needs bitsandbytes: pip install 'sqlforge[gpu]'")


def live_callback(directory: str | Path, resume: bool = False):
    """DVCLive logging that neither rewrites dvc.yaml nor creates experiments (plots are declared by us).
    Each row's `step` is the trainer's global step: DVCLive's own callback numbers its log calls instead
    (0-65 for 655 SFT steps logged every 10), which made the loss plots' x axis a log index."""
    from dvclive import Live
    from dvclive.huggingface import DVCLiveCallback

    class TrainerStepCallback(DVCLiveCallback):
        def on_log(self, args, state, control, **kwargs):
            self.live.step = state.global_step
            super().on_log(args, state, control, **kwargs)

    return TrainerStepCallback(live=Live(str(directory), dvcyaml=False, save_dvc_exp=False, report=None,
                                         resume=resume))


def resumable_work_dir(work: Path, fingerprint: str) -> str | None:
    """Prepare a trainer's work folder; return the checkpoint to resume from, if any.

    The folder survives a killed run (it is not a DVC output, which DVC would
    delete); it is reused only by a run with the same inputs (`fingerprint`).
    """
    from transformers.trainer_utils import get_last_checkpoint

    stamp = work / "inputs.sha256"
    if work.is_dir() and (not stamp.is_file() or stamp.read_text() != fingerprint):
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    stamp.write_text(fingerprint)
    return get_last_checkpoint(str(work))


def canonical_adapter_config(directory: Path) -> None:
    """peft writes target_modules from a set, in hash order: sort it so equal runs give equal bytes."""
    path = directory / "adapter_config.json"
    if path.is_file():
        config = json.loads(path.read_text())
        if isinstance(config.get("target_modules"), list):
            config["target_modules"] = sorted(config["target_modules"])
        path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def last_logged(log_history: list[dict], key: str, default: float) -> float:
    """The last logged value of `key` (the final loss, not the run's mean), or `default` if none was logged."""
    values = [entry[key] for entry in log_history if key in entry]
    return float(values[-1]) if values else float(default)
