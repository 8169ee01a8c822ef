"""`sqlforge experiments`: a commit's `dvc exp` runs as one readable table, and their spread across seeds.

    sqlforge experiments                 # HEAD and its experiments: changed params x EX of every predictor
    sqlforge experiments --summary       # mean, standard deviation and range of each metric across them
    sqlforge experiments --json

`dvc exp show` lists every metric and dependency hash of every stage, which a terminal cuts off before any
EX or the swept param. This reads only what matters, from git: each experiment's committed
`metrics/validate.json` (EX and EM of every predictor block, whatever its name) and `metrics/rm.json`
(pairwise accuracy), and its `params.yaml`, of which it shows the keys whose values differ between the
runs listed. Experiments are those `dvc exp run` recorded on the baseline commit (`refs/exps/...`);
`--baseline` picks another commit; the baseline itself is the first row (as the seed-0 run of a sweep over
seeds, docs/experiments.md). EX and EM carry validate's 95% Wilson interval in the table.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics

import yaml

from sqlforge.commands.compare import git, text_table
from sqlforge.io import InputError


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("experiments", help="experiments x headline metrics, with the changed params",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default="HEAD", help="the commit whose experiments to list (HEAD)")
    parser.add_argument("--summary", action="store_true",
                        help="mean, standard deviation, min and max of each metric across the runs")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=run)


def show(rev: str, path: str) -> str | None:
    proc = git("show", f"{rev}:{path}")
    return proc.stdout if proc.returncode == 0 else None


def flatten(tree: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def headline(validate: dict, rm: dict) -> dict[str, float]:
    """EX (and EM) of every predictor block, then the reward model's pairwise accuracy."""
    out = {}
    for name, block in sorted(validate.items(), key=lambda kv: (kv[0] != "greedy", kv[0])):
        if isinstance(block, dict) and "ex" in block and "ex_by_difficulty" in block:
            for kind in ("ex", "em"):
                if kind in block:
                    out[f"{name}.{kind}"] = block[kind]
    if "pairwise_accuracy" in rm:
        out["rm.pairwise_accuracy"] = rm["pairwise_accuracy"]
    return out


def runs(baseline: str) -> list[dict]:
    """The baseline and each experiment on it: name, rev, params (flat), metrics (flat), intervals."""
    sha = git("rev-parse", "--verify", "--quiet", f"{baseline}^{{commit}}").stdout.strip()
    if not sha:
        raise InputError(f"{baseline}: not a git revision")
    refs = git("for-each-ref", "--sort=creatordate", "--format=%(refname)", f"refs/exps/{sha[:2]}/{sha[2:]}").stdout
    out = []
    for name, rev in [(baseline, sha), *[(r.rsplit("/", 1)[-1], r) for r in refs.split()]]:
        validate_text = show(rev, "metrics/validate.json")
        if validate_text is None:
            continue  # an experiment that failed before validate, or a commit without results
        try:
            validate = json.loads(validate_text)
            rm = json.loads(show(rev, "metrics/rm.json") or "{}")
            params = yaml.safe_load(show(rev, "params.yaml") or "") or {}
        except (json.JSONDecodeError, yaml.YAMLError) as e:
            raise InputError(f"{name}: unreadable metrics or params ({e.__class__.__name__})") from None
        bounds = {f"{p}.{k}": (b[f"{k}_low"], b[f"{k}_high"]) for p, b in validate.items()
                  if isinstance(b, dict) for k in ("ex", "em") if f"{k}_low" in b}
        out.append({"name": name, "rev": rev, "params": flatten(params), "metrics": headline(validate, rm),
                    "intervals": bounds})
    if not out:
        raise InputError(f"{baseline}: no metrics/validate.json in it or in any of its experiments")
    return out


def changed_params(rows: list[dict]) -> list[str]:
    keys = sorted({k for r in rows for k in r["params"]})
    return [k for k in keys if len({json.dumps(r["params"].get(k)) for r in rows}) > 1]


def summary(rows: list[dict]) -> dict[str, dict]:
    """Per metric: runs, mean, sample standard deviation, min, max."""
    names = [m for m in rows[0]["metrics"] if all(m in r["metrics"] for r in rows)]
    out = {}
    for m in names:
        values = [r["metrics"][m] for r in rows]
        out[m] = {"runs": len(values), "mean": statistics.fmean(values),
                  "sd": statistics.stdev(values) if len(values) > 1 else math.nan,
                  "min": min(values), "max": max(values)}
    return out


def run(args) -> int:
    rows = runs(args.baseline)
    params = changed_params(rows)
    if args.summary:
        stats = summary(rows)
        if args.json:
            print(json.dumps({"runs": [r["name"] for r in rows], "changed_params": params, "metrics": stats},
                             indent=1))
            return 0
        print(f"{len(rows)} runs: {', '.join(r['name'] for r in rows)}; params that differ: {', '.join(params) or 'none'}")
        body = [[m, str(s["runs"]), f"{s['mean']:.4f}", f"{s['sd']:.4f}", f"{s['min']:.4f}", f"{s['max']:.4f}",
                 f"{s['max'] - s['min']:.4f}"] for m, s in stats.items()]
        print(text_table(["metric", "runs", "mean", "sd", "min", "max", "range"], body))
        return 0
    if args.json:
        print(json.dumps([{"name": r["name"], "params": {k: r["params"].get(k) for k in params},
                           "metrics": r["metrics"], "intervals": r["intervals"]} for r in rows], indent=1))
        return 0
    metrics = [m for m in rows[0]["metrics"]]
    metrics += [m for r in rows for m in r["metrics"] if m not in metrics]
    body = []
    for r in rows:
        cells = [r["name"]] + [str(r["params"].get(k, "")) for k in params]
        for m in metrics:
            value, bounds = r["metrics"].get(m), r["intervals"].get(m)
            cells.append("" if value is None else f"{value:.3f}" + (f" [{bounds[0]:.3f}, {bounds[1]:.3f}]" if bounds else ""))
        body.append(cells)
    print(text_table(["experiment", *params, *metrics], body))
    return 0
