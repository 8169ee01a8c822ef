"""scripts/build_shards.py: the shards of a foreach stage run at once as plain processes, each then recorded in
dvc.lock by `dvc commit`, so `dvc status` is clean and a later `dvc repro` runs none of them again.

A real DVC repository with real processes; the shard command is a stand-in for tree-build (it records when it
ran and with how many threads) so the test takes seconds. The real tree-build shards were measured with the
script on the demo (docs/architecture.md: Scale)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import REPO

SHARD = """
import json, os, sys, time
shard, out = sys.argv[1], sys.argv[2]
start = time.time()
time.sleep(3)
os.makedirs(out, exist_ok=True)
open(os.path.join(out, "tree.jsonl"), "w").write(json.dumps({"shard": shard}) + "\\n")
os.makedirs("metrics", exist_ok=True)
json.dump({"start": start, "end": time.time(), "threads": os.environ.get("OMP_NUM_THREADS"),
           "gpu": os.environ.get("CUDA_VISIBLE_DEVICES")}, open(f"metrics/shard-{shard}.json", "w"))
"""

DVC_YAML = """stages:
  tree-build:
    foreach: [0, 1]
    do:
      cmd: python shard.py ${item} data/trees/shard-${item}
      deps: [shard.py]
      outs:
        - data/trees/shard-${item}
      metrics:
        - metrics/shard-${item}.json:
            cache: false
"""


def run(cmd, cwd, **kw):
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, **kw)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc


@pytest.fixture
def workspace(tmp_path):
    run(["git", "init", "-q"], tmp_path)
    run([sys.executable, "-m", "dvc", "init", "-q"], tmp_path)
    (tmp_path / "shard.py").write_text(SHARD)
    (tmp_path / "dvc.yaml").write_text(DVC_YAML)
    bindir = os.path.dirname(sys.executable)  # `python` in the stage command: this environment's
    return tmp_path, {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "CUDA_VISIBLE_DEVICES": ""}


def build(workspace, *flags):
    path, env = workspace
    return run([sys.executable, str(REPO / "scripts" / "build_shards.py"), *flags], path, env=env)


def test_shards_run_side_by_side_and_are_recorded(workspace):
    path, env = workspace
    out = build(workspace, "--threads", "1")
    ran = [json.loads((path / "metrics" / f"shard-{i}.json").read_text()) for i in (0, 1)]
    assert ran[0]["start"] < ran[1]["end"] and ran[1]["start"] < ran[0]["end"], "shards did not overlap"
    assert [r["threads"] for r in ran] == ["1", "1"]
    lock = (path / "dvc.lock").read_text()
    assert "tree-build@0" in lock and "tree-build@1" in lock and "shard-1.json" in lock
    status = run([sys.executable, "-m", "dvc", "status", "--json"], path, env=env)
    assert json.loads(status.stdout) == {}, status.stdout
    repro = run([sys.executable, "-m", "dvc", "repro"], path, env=env)
    assert "didn't change, skipping" in repro.stdout and "Running stage" not in repro.stdout
    again = build(workspace)
    assert "every tree-build shard is up to date" in again.stdout, out.stdout


def test_shards_go_one_per_gpu_round_robin(workspace):
    path, _ = workspace
    build(workspace, "--gpus", "3,5")
    assert [json.loads((path / "metrics" / f"shard-{i}.json").read_text())["gpu"] for i in (0, 1)] == ["3", "5"]


def test_a_failed_shard_is_not_recorded_and_the_others_are(workspace):
    path, env = workspace
    (path / "shard.py").write_text("import sys\nif sys.argv[1] == '1': sys.exit(3)\n" + SHARD)
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "build_shards.py")], cwd=path, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "failed: ['tree-build@1']" in proc.stdout
    lock = (path / "dvc.lock").read_text()
    assert "tree-build@0" in lock and "tree-build@1" not in lock
