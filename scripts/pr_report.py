"""The pull-request report: the PR's committed metrics against BASE's, the same pipeline on both sides.

    python scripts/pr_report.py origin/main      # markdown on stdout; exit 1 if the PR's metrics are stale

Both sides are committed results of the default pipeline (dvc.lock + metrics/), so the diff compares like
with like. First it checks the PR's results are the code's results: no stage may have changed code,
params or committed metrics against dvc.lock (`dvc status`; outputs not pulled from the remote are fine),
and every stage's input hash in dvc.lock must equal the hash its producing stage recorded.
Under the metrics diff, the per-question comparison of the branch's verdicts (`metrics/verdicts.tsv`)
against BASE's for every predictor (`sqlforge compare BASE <branch>`): questions fixed and broken, exact
McNemar p, paired bootstrap interval; a difference with p above 0.05 is marked not significant.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml


def dvc(*args: str) -> str:
    return subprocess.run([sys.executable, "-m", "dvc", *args], check=True, capture_output=True, text=True).stdout


def stale_stages(status: dict) -> list[str]:
    problems = []
    for stage, changes in status.items():
        for change in changes:
            if not isinstance(change, dict):  # e.g. "always changed"
                problems.append(f"{stage}: {change}")
                continue
            for kind, files in change.items():
                states = files.values() if isinstance(files, dict) else [files]
                # an output or input that is only absent was not pulled: dvc.lock still vouches for it
                if any(s != "deleted" for s in states):
                    problems.append(f"{stage}: {kind} {json.dumps(files)}")
    return problems


def broken_links(lock: dict) -> list[str]:
    produced = {o["path"]: o.get("md5") for s in lock.get("stages", {}).values() for o in s.get("outs", [])}
    problems = []
    for name, stage in lock.get("stages", {}).items():
        for dep in stage.get("deps", []):
            if dep["path"] in produced and dep.get("md5") != produced[dep["path"]]:
                problems.append(f"{name}: input {dep['path']} is not the output its stage recorded")
    return problems


def paired_section(base: str, path: str) -> str:
    """Markdown: the branch's committed verdicts against BASE's, question by question, per predictor."""
    from sqlforge.commands.compare import load_verdicts, markdown
    from sqlforge.io import InputError
    from sqlforge.scoring.verdicts import compare_runs, read_verdicts

    head = f"### Per-question comparison vs `{base}` (`sqlforge compare {base} <branch>`)\n\n"
    if not Path(path).is_file():
        return head + f"This branch has no `{path}`: no per-question comparison.\n"
    try:
        old, _ = load_verdicts(base, path)
        new = read_verdicts(path)
        with open("params.yaml", encoding="utf-8") as f:
            cfg = (yaml.safe_load(f) or {}).get("validate", {})
        questions, results = compare_runs(old, new, cfg["bootstrap_resamples"], cfg["bootstrap_seed"], base, "branch")
    except (InputError, KeyError) as e:
        return head + f"No per-question comparison: {e}\n"
    return (head + f"{questions} questions in common. EX of both sides, questions fixed (wrong on `{base}`, right "
            "here) and broken, the exact McNemar p on them and a paired bootstrap 95% interval of the difference; "
            "p above 0.05: not significant.\n\n" + markdown(results, base, "branch"))


def main(argv: list[str]) -> int:
    base = argv[0] if argv else "main"
    with open("dvc.lock", encoding="utf-8") as f:
        lock = yaml.safe_load(f) or {}
    problems = stale_stages(json.loads(dvc("status", "--json") or "{}")) + broken_links(lock)
    if problems:
        print("The committed metrics are not this commit's results; run `dvc repro` and commit dvc.lock and "
              "metrics/:\n" + "\n".join(f"- {p}" for p in problems))
        return 1
    print(f"### Metrics: this branch's committed results vs `{base}`\n")
    print(dvc("metrics", "diff", base, "--md"))
    print(paired_section(base, "metrics/verdicts.tsv"))
    print(f"### Params changed vs `{base}`\n")
    print(dvc("params", "diff", base, "--md") or "none\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
