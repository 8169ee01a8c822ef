"""Multi-process training through `accelerate launch`, chosen by `sft.launcher` in params.

The stage command stays `python stages/sft.py`: with a launcher set, that
process re-runs the same script under `accelerate launch` with the config
file from `configs/accelerate/` and waits for it. Inside the launched
processes (RANK is set) training proceeds as usual and rank 0 alone writes
outputs.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
from pathlib import Path

from sqlforge.io import InputError

CONFIG_DIR = Path(__file__).resolve().parents[3] / "configs" / "accelerate"
LAUNCHERS = {"ddp": "ddp.yaml", "deepspeed_zero2": "deepspeed_zero2.yaml", "deepspeed_zero3": "deepspeed_zero3.yaml"}


def is_launched() -> bool:
    """True inside a process started by a distributed launcher."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _free_port() -> int:
    """A free local port for the rendezvous, so two launched stages on one host do not collide."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def launch_command(launcher: str, num_processes: int, script: str, argv: list[str]) -> list[str]:
    if launcher not in LAUNCHERS:
        raise InputError(f"params.yaml: sft.launcher={launcher!r} must be none or one of {sorted(LAUNCHERS)}")
    if num_processes < 1:
        raise InputError(f"params.yaml: sft.num_processes must be at least 1, got {num_processes}")
    if launcher.startswith("deepspeed") and importlib.util.find_spec("deepspeed") is None:
        raise InputError(f"params.yaml: sft.launcher={launcher} needs deepspeed: pip install 'sqlforge[gpu]'")
    if launcher.startswith("deepspeed") and not _cuda():
        # the GPU environment installs deepspeed on CPU machines too (make test-gpu-env); ZeRO needs CUDA
        raise InputError(f"params.yaml: sft.launcher={launcher} needs a CUDA GPU; use ddp or none on CPU")
    return [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CONFIG_DIR / LAUNCHERS[launcher]),
            "--num_processes", str(num_processes), "--main_process_port", str(_free_port()),
            script, *argv]


def relaunch(launcher: str, num_processes: int, script: str, argv: list[str]) -> int:
    """Run `script` under accelerate with `num_processes` processes; return its exit code."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    return subprocess.run(launch_command(launcher, num_processes, script, argv), env=env).returncode
