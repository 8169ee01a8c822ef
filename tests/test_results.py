"""`sqlforge results`: the short table `make repro` ends with, and the README's results table, which is that
table generated from the committed metrics (so a number in it cannot drift from `metrics/`)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import REPO
from sqlforge.commands.results import BEGIN, END, markdown, readme_block
from sqlforge.io import InputError
from sqlforge.scoring.significance import wilson


def block(ex: float, n: int, **extra) -> dict:
    return {"ex": ex, "n": n, "ex_by_difficulty": {"easy": ex}, "gold_failures": 0, **extra}


def write_metrics(folder, validate: dict) -> None:
    folder.mkdir(exist_ok=True)
    (folder / "validate.json").write_text(json.dumps(validate))
    (folder / "rm.json").write_text(json.dumps({"pairwise_accuracy": 0.5, "n_pairs": 10}))


def test_the_readme_results_table_is_the_one_generated_from_the_committed_metrics():
    readme = (REPO / "README.md").read_text()
    start, end = readme_block(readme)
    assert readme[start:end].strip() == markdown(REPO / "metrics").strip(), \
        "README's results table is stale: run `sqlforge results --update README.md`"


def test_results_shows_every_predictor_with_intervals_and_its_comparison_with_greedy(tmp_path):
    validate = {"dataset": {"questions": 40},
                "greedy": block(0.5, 40, em=0.6, ex_low=0.35, ex_high=0.65, em_low=0.45, em_high=0.74),
                "greedy_rl": block(0.75, 40),  # a predictor this command has never heard of; no stored interval
                "oracle_pass_at_n": block(0.9, 9),  # its n counts candidates, not questions
                "vs_greedy": {"greedy_rl": {"n": 40, "diff": 0.25, "fixed": 12, "broken": 2, "mcnemar_p": 0.013,
                                            "diff_low": 0.1, "diff_high": 0.4}}}
    write_metrics(tmp_path / "m", validate)
    table = markdown(tmp_path / "m")
    rows = {line.split(" | ")[0].strip("| "): line for line in table.splitlines()}
    assert "0.500 [0.350, 0.650]" in rows["greedy"] and "0.600 [0.450, 0.740]" in rows["greedy"]
    low, high = wilson(30, 40)  # recomputed where validate stored none
    assert f"0.750 [{low:.3f}, {high:.3f}]" in rows["greedy_rl"] and "+0.250 (12 fixed / 2 broken, p=0.013)" in rows["greedy_rl"]
    low, high = wilson(36, 40)
    assert f"| 40 | 0.900 [{low:.3f}, {high:.3f}]" in rows["oracle_pass_at_n (uses the gold)"]
    assert "reward model: pairwise accuracy" in table
    # p above 0.05 is marked
    validate["vs_greedy"]["greedy_rl"]["mcnemar_p"] = 0.2
    write_metrics(tmp_path / "m", validate)
    assert "p=0.2, n.s.)" in markdown(tmp_path / "m")


def test_results_command_prints_the_table_and_rewrites_only_the_readme_block(tmp_path):
    write_metrics(tmp_path / "m", {"dataset": {"questions": 10}, "greedy": block(0.5, 10)})
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\nbefore\n{BEGIN}\nold table\n{END}\nafter\n")
    env_cmd = [sys.executable, "-m", "sqlforge.commands", "results", "--metrics-dir", str(tmp_path / "m")]
    printed = subprocess.run(env_cmd, capture_output=True, text=True, cwd=REPO)
    assert printed.returncode == 0 and "greedy" in printed.stdout and "0.500 [0.237, 0.763]" in printed.stdout
    assert subprocess.run([*env_cmd, "--update", str(readme)], cwd=REPO).returncode == 0
    text = readme.read_text()
    assert "old table" not in text and text.startswith("# x\nbefore\n") and text.endswith(f"{END}\nafter\n")
    assert text[slice(*readme_block(text))].strip() == markdown(tmp_path / "m").strip()
    missing = subprocess.run([*env_cmd[:-2], "--metrics-dir", str(tmp_path / "none")], capture_output=True, text=True,
                             cwd=REPO)
    assert missing.returncode == 2 and "validate.json: not found" in missing.stderr
    with pytest.raises(InputError, match="no generated results table"):
        readme_block("# no markers")
