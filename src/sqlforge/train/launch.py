"""Multi-process and multi-machine training through `accelerate launch`, chosen by `<stage>.launcher` in params.

The stage command stays `python stages/<stage>.py`: with a launcher set, that
process re-runs the same script under `accelerate launch` with the config
file from `configs/accelerate/` and waits for it. Inside the launched
processes (RANK is set) training proceeds as usual and rank 0 alone writes
outputs.

Every training stage (sft, train-rm, rl) calls it the same way:

    if cfg.launcher != "none" and not is_launched():
        sys.exit(relaunch(cfg.launcher, cfg.num_processes, __file__, sys.argv[1:], params.cluster, "rl"))

with `launcher` and `num_processes` (processes per machine) in its own params section and the machines
in the shared `cluster` section (num_machines, machine_rank, main_process_ip, main_process_port): each
machine runs the same stage command with its own cluster.machine_rank; machine 0 is the rendezvous.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
from pathlib import Path

from typing import TYPE_CHECKING

from sqlforge.io import InputError

if TYPE_CHECKING:
    from sqlforge.config import ClusterConfig

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


def _machines(cluster: ClusterConfig | None) -> list[str]:
    """accelerate's multi-machine flags for `cluster` (none for one machine: a free local rendezvous port)."""
    if cluster is None or cluster.num_machines == 1:
        port = cluster.main_process_port if cluster is not None and cluster.main_process_port else _free_port()
        return ["--main_process_port", str(port)]
    if cluster.machine_rank >= cluster.num_machines:
        raise InputError(f"params.yaml: cluster.machine_rank={cluster.machine_rank} must be below "
                         f"cluster.num_machines={cluster.num_machines}")
    if not cluster.main_process_ip or not cluster.main_process_port:
        raise InputError("params.yaml: cluster.num_machines > 1 needs cluster.main_process_ip and "
                         "cluster.main_process_port (machine 0's address, reachable from every machine)")
    return ["--num_machines", str(cluster.num_machines), "--machine_rank", str(cluster.machine_rank),
            "--main_process_ip", cluster.main_process_ip, "--main_process_port", str(cluster.main_process_port)]


def launch_command(launcher: str, num_processes: int, script: str, argv: list[str],
                   cluster: ClusterConfig | None = None, section: str = "sft") -> list[str]:
    """`accelerate launch` of `script` with `num_processes` processes on each of cluster.num_machines machines."""
    if launcher not in LAUNCHERS:
        raise InputError(f"params.yaml: {section}.launcher={launcher!r} must be none or one of {sorted(LAUNCHERS)}")
    if num_processes < 1:
        raise InputError(f"params.yaml: {section}.num_processes must be at least 1, got {num_processes}")
    if launcher.startswith("deepspeed") and importlib.util.find_spec("deepspeed") is None:
        raise InputError(f"params.yaml: {section}.launcher={launcher} needs deepspeed: pip install 'sqlforge[gpu]'")
    if launcher.startswith("deepspeed") and not _cuda():
        # the GPU environment installs deepspeed on CPU machines too (make test-gpu-env); ZeRO needs CUDA
        raise InputError(f"params.yaml: {section}.launcher={launcher} needs a CUDA GPU; use ddp or none on CPU")
    machines = cluster.num_machines if cluster is not None else 1
    # accelerate's --num_processes counts the processes of all machines
    return [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CONFIG_DIR / LAUNCHERS[launcher]),
            "--num_processes", str(num_processes * machines), *_machines(cluster), script, *argv]


def resume_point(trainer, work: Path, checkpoint: str | None) -> str | None:
    """The checkpoint every rank resumes from: rank 0 prepared the work folder (resumable_work_dir) before the
    trainer was built; the other ranks look for its checkpoint after a barrier. Another machine's ranks see
    rank 0's folder only on a shared filesystem: without one they start from step 0."""
    if trainer.args.world_size == 1:
        return checkpoint
    from transformers.trainer_utils import get_last_checkpoint

    trainer.accelerator.wait_for_everyone()
    if is_main_process():
        return checkpoint
    return get_last_checkpoint(str(work)) if work.is_dir() else None


def relaunch(launcher: str, num_processes: int, script: str, argv: list[str], cluster: ClusterConfig | None = None,
             section: str = "sft") -> int:
    """Run `script` under accelerate with `num_processes` processes (on each machine); return its exit code."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    return subprocess.run(launch_command(launcher, num_processes, script, argv, cluster, section), env=env).returncode
