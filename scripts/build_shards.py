"""Build the tree-build shards of one workspace side by side and record each in dvc.lock.

Two `dvc repro` processes in one workspace contend for DVC's repository lock
(the second stops on the first's lock of an upstream output; treeverse/dvc
issues 9805, 10465, 11054). This script runs each out-of-date shard's own
stage command from dvc.yaml as a plain process instead, all at once, one
per GPU (CUDA_VISIBLE_DEVICES) or, on CPU, with the cores divided between
them (OMP_NUM_THREADS), waits for all, and then records every finished
shard with `dvc commit --force` (outputs cached, dvc.lock and the run-cache
updated, as `dvc repro` would). Upstream stages must be current first:

    dvc repro merge && python scripts/build_shards.py && dvc repro

A shard that fails leaves dvc.lock untouched for it (the others are still
recorded) and the script exits 1; tree-build resumes from its checkpoint.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time


def shard_stages(repo) -> list:
    return [s for s in repo.index.stages if s.addressing.startswith("tree-build@")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gpus", default=os.environ.get("CUDA_VISIBLE_DEVICES", ""),
                        help="comma-separated GPU ids, shards assigned round-robin (default: CUDA_VISIBLE_DEVICES; "
                             "none: CPU, cores divided)")
    parser.add_argument("--threads", type=int, default=0,
                        help="CPU threads per shard (default: the cores divided between the shards run)")
    parser.add_argument("--force", action="store_true", help="build every shard, current or not")
    args = parser.parse_args()

    from dvc.repo import Repo

    repo = Repo()
    with repo.lock:  # held only while checking, released before the shards start
        todo = [s for s in shard_stages(repo) if args.force or s.status()]
    repo.close()
    if not todo:
        print("build_shards: every tree-build shard is up to date")
        return 0
    gpus = [g for g in args.gpus.split(",") if g.strip()]
    threads = args.threads or max(1, (os.cpu_count() or 1) // len(todo))
    running = []
    start = time.monotonic()
    for k, stage in enumerate(todo):
        env = dict(os.environ)
        if gpus:
            env["CUDA_VISIBLE_DEVICES"] = gpus[k % len(gpus)]
        else:
            env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        where = f"GPU {env['CUDA_VISIBLE_DEVICES']}" if gpus else f"{threads} CPU threads"
        print(f"build_shards: {stage.addressing} on {where}: {stage.cmd}", flush=True)
        running.append((stage.addressing, subprocess.Popen(stage.cmd, shell=True, cwd=repo.root_dir, env=env)))
    done, failed = [], []
    for name, proc in running:
        (done if proc.wait() == 0 else failed).append(name)
    print(f"build_shards: {len(done)} built in {time.monotonic() - start:.0f} s; failed: {failed or 'none'}",
          flush=True)
    for name in done:  # one at a time: each takes the repository lock briefly
        subprocess.run([sys.executable, "-m", "dvc", "commit", "--force", "--quiet", name], cwd=repo.root_dir,
                       check=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
