"""`sqlforge experiments`: a commit's `dvc exp` runs as experiments x headline metrics with the params that
differ, and the seed-variance summary (mean, sd, range per metric), on real experiments of a temporary
git + DVC repo (a sweep over seeds, as docs/experiments.md's recipe runs it)."""

from __future__ import annotations

import json
import sys

import pytest

from test_significance import dvc_repo, ok, sh

pytestmark = pytest.mark.slow  # dvc exp run in subprocesses

STAGE = """import json, yaml
p = yaml.safe_load(open("params.yaml"))
s = p["sft"]["seed"]
def block(ex):
    return {"ex": ex, "em": ex + 0.1, "n": 360, "ex_by_difficulty": {"easy": ex}, "ex_low": ex - 0.05,
            "ex_high": ex + 0.04, "em_low": ex + 0.05, "em_high": ex + 0.14}
json.dump({"dataset": {"questions": 360}, "greedy": block(0.70 + s / 100), "majority_vote": block(0.72 + s / 200),
           "rules": {"name": "spider"}}, open("metrics/validate.json", "w"))
json.dump({"pairwise_accuracy": 0.5, "n_pairs": 100}, open("metrics/rm.json", "w"))
json.dump({"rows": 7}, open("metrics/fetch.json", "w"))
"""
DVC_YAML = """stages:
  run:
    cmd: python run.py
    deps: [run.py]
    params: [sft, mcts, data]
    metrics:
      - metrics/validate.json:
          cache: false
      - metrics/rm.json:
          cache: false
      - metrics/fetch.json:
          cache: false
"""


def experiments(repo, *args):
    return sh(repo, sys.executable, "-m", "sqlforge.commands", "experiments", *args)


def test_experiments_table_and_seed_summary_over_a_queued_sweep(tmp_path):
    (tmp_path / "repo" / "metrics").mkdir(parents=True)
    repo = dvc_repo(tmp_path / "repo", {"run.py": STAGE, "dvc.yaml": DVC_YAML, "params.yaml":
                                        "sft:\n  seed: 0\n  lr: 0.1\nmcts:\n  seed: 0\ndata:\n  demo:\n    seed: 0\n"})
    # the documented recipe: queue one experiment per seed, every training seed moved together, then run them
    for seed in (1, 2):
        ok(sh(repo, sys.executable, "-m", "dvc", "exp", "run", "--queue", "-n", f"seed-{seed}",
              "-S", f"sft.seed={seed}", "-S", f"mcts.seed={seed}"))
    ok(sh(repo, sys.executable, "-m", "dvc", "exp", "run", "--run-all"))

    table = ok(experiments(repo)).splitlines()
    assert table[0].split()[:3] == ["experiment", "mcts.seed", "sft.seed"]  # only the params that differ
    assert "sft.lr" not in table[0] and "data.demo.seed" not in table[0] and "rows" not in table[0]
    assert "greedy.ex" in table[0] and "majority_vote.em" in table[0] and "rm.pairwise_accuracy" in table[0]
    rows = {line.split()[0]: line for line in table[1:]}
    assert set(rows) == {"HEAD", "seed-1", "seed-2"}
    assert "0.720 [0.670, 0.760]" in rows["seed-2"]  # greedy EX with validate's interval

    stats = json.loads(ok(experiments(repo, "--summary", "--json")))
    assert stats["runs"] == ["HEAD", "seed-1", "seed-2"] and stats["changed_params"] == ["mcts.seed", "sft.seed"]
    greedy = stats["metrics"]["greedy.ex"]  # 0.70, 0.71, 0.72
    assert greedy["runs"] == 3 and greedy["mean"] == pytest.approx(0.71) and greedy["sd"] == pytest.approx(0.01)
    assert (greedy["min"], greedy["max"]) == pytest.approx((0.70, 0.72))
    assert stats["metrics"]["majority_vote.ex"]["sd"] == pytest.approx(0.005)
    text = ok(experiments(repo, "--summary"))
    assert "3 runs: HEAD, seed-1, seed-2" in text and "greedy.ex" in text and "0.0200" in text  # the range

    bad = experiments(repo, "--baseline", "nope")
    assert bad.returncode == 2 and "nope: not a git revision" in bad.stderr
