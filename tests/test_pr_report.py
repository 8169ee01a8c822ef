"""The PR report (scripts/pr_report.py, what `make report` and the workflow run) compares like with like:
the branch's committed results against the base's, and refuses results that are not the code's."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

# stage scripts in subprocesses, real training or the pipeline: `make test-fast` leaves these out
pytestmark = pytest.mark.slow


STAGE = """import json, yaml
x = yaml.safe_load(open("params.yaml"))["train"]["x"]
open("model.txt", "w").write(str(x))
json.dump({"score": x / 10}, open("metrics.json", "w"))
# every question's verdict, as validate writes metrics/verdicts.tsv: greedy right on the first 10 * x of 40
rows = [f"dev-{i}\\tdb\\teasy\\t{int(i < 10 * x)}\\t{int(i < 20)}" for i in range(40)]
open("metrics/verdicts.tsv", "w").write("id\\tdb_id\\tdifficulty\\tgreedy.ex\\tvote.ex\\n" + "\\n".join(rows) + "\\n")
"""
BOOTSTRAP = "validate:\n  bootstrap_resamples: 1000\n  bootstrap_seed: 0\n"
DVC_YAML = """stages:
  train:
    cmd: python train.py
    deps: [train.py]
    params: [train]
    outs:
      - model.txt
      - metrics/verdicts.tsv:
          cache: false
    metrics:
      - metrics.json:
          cache: false
"""


def sh(cwd: Path, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    assert not check or proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def report(repo: Path) -> subprocess.CompletedProcess:
    return sh(repo, sys.executable, str(REPO / "scripts" / "pr_report.py"), "main", check=False)


def test_report_diffs_committed_results_and_refuses_stale_ones(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    sh(repo, "git", "init", "-q", "-b", "main")
    sh(repo, "git", "config", "user.email", "t@example.com")
    sh(repo, "git", "config", "user.name", "t")
    sh(repo, sys.executable, "-m", "dvc", "init", "-q")
    (repo / "train.py").write_text(STAGE)
    (repo / "dvc.yaml").write_text(DVC_YAML)
    (repo / "metrics").mkdir()
    (repo / "params.yaml").write_text(f"train:\n  x: 1\n{BOOTSTRAP}")
    sh(repo, sys.executable, "-m", "dvc", "repro", "-q")
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "base")
    sh(repo, "git", "checkout", "-qb", "pr")
    (repo / "params.yaml").write_text(f"train:\n  x: 3\n{BOOTSTRAP}")
    sh(repo, sys.executable, "-m", "dvc", "repro", "-q")
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "pr")
    (repo / "model.txt").unlink()  # a fresh CI checkout has no pipeline outputs: the lock vouches for them

    ok = report(repo)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # the committed pipeline's metric on both sides: 0.1 on main, 0.3 on the branch
    row = next(line for line in ok.stdout.splitlines() if line.startswith("| metrics.json"))
    assert [c.strip() for c in row.strip("|").split("|")] == ["metrics.json", "score", "0.1", "0.3", "0.2"]
    assert "train.x" in ok.stdout
    # question by question: greedy fixed dev-10..29 and broke none; the vote is unchanged, so not significant
    greedy = next(line for line in ok.stdout.splitlines() if line.startswith("| greedy |"))
    assert [c.strip() for c in greedy.strip("|").split("|")][:8] == [
        "greedy", "40", "0.250", "0.750", greedy.split("|")[5].strip(), "20", "0", "1.9e-06"]
    assert "significant" in greedy and "not significant" not in greedy
    vote = next(line for line in ok.stdout.splitlines() if line.startswith("| vote |"))
    assert "| 0 | 0 | 1.000 | not significant (p > 0.05) |" in vote

    # a branch whose params changed without re-running the pipeline would report main's numbers as its own
    (repo / "params.yaml").write_text(f"train:\n  x: 4\n{BOOTSTRAP}")
    stale = report(repo)
    assert stale.returncode == 1 and "train: changed deps" in stale.stdout
    (repo / "params.yaml").write_text(f"train:\n  x: 3\n{BOOTSTRAP}")

    # committed metrics edited by hand are refused too
    (repo / "metrics.json").write_text(json.dumps({"score": 0.9}))
    edited = report(repo)
    assert edited.returncode == 1 and "metrics.json" in edited.stdout
