"""`sqlforge compare`: did a change help, or is the difference chance? Question by question.

    sqlforge compare main HEAD                 # two commits (branches, tags, any git revision)
    sqlforge compare main my-experiment        # a `dvc exp` name: its ref under refs/exps
    sqlforge compare old.tsv new.tsv --list    # two verdict files; --list prints the flipped ids
    sqlforge compare HEAD                      # one run: greedy against every other predictor
    sqlforge compare main HEAD --json          # for scripts

Each side is the verdict file validate writes (`metrics/verdicts.tsv`, `--path`), read from a file, or
from a commit or an experiment with `git show REV:PATH`, so nothing is pulled or re-run. For every
predictor both sides have: EX of each side on the questions both answered, the questions fixed (wrong
in A, right in B) and broken (right in A, wrong in B), the exact McNemar p-value on those discordant
questions, and a paired bootstrap 95% interval of EX(B) - EX(A). A p-value above 0.05 is marked
not significant. Resamples and seed default to `validate.bootstrap_resamples` and
`validate.bootstrap_seed` of `--params`, as validate's own `vs_greedy` block uses.
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path

from sqlforge.commands import flags
from sqlforge.io import InputError
from sqlforge.scoring.significance import ALPHA, Paired
from sqlforge.scoring.verdicts import Verdicts, compare_predictors, compare_runs, parse_verdicts, read_verdicts

DEFAULT_PATH = "metrics/verdicts.tsv"  # dvc.yaml's validate --verdicts


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("compare", help="paired comparison of two runs' (or one run's) verdicts",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a", help="verdict file, git revision or experiment name (the baseline side)")
    parser.add_argument("b", nargs="?", help="the other side; without it, predictors of A against --baseline")
    parser.add_argument("--path", default=DEFAULT_PATH, help=f"the verdict file inside a commit ({DEFAULT_PATH})")
    parser.add_argument("--baseline", default="greedy", help="one run: the predictor the others are compared with")
    parser.add_argument("--list", action="store_true", help="print the ids of the questions fixed and broken")
    parser.add_argument("--json", action="store_true", help="one JSON object (with the ids) instead of the table")
    parser.add_argument("--resamples", type=flags.integer(100, 1_000_000), default=None,
                        help="bootstrap resamples (default: validate.bootstrap_resamples in --params)")
    parser.add_argument("--seed", type=flags.integer(0), default=None,
                        help="bootstrap seed (default: validate.bootstrap_seed in --params)")
    parser.add_argument("--params", default="params.yaml", help="the project's params (default: params.yaml)")
    parser.set_defaults(func=run)


def git(*args: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["git", *args], capture_output=True, text=True)
    except OSError as e:
        raise InputError(f"git: cannot run ({e.__class__.__name__})") from None


def resolve_revision(source: str) -> str | None:
    """A git revision for `source`: itself if git knows it, else the experiment ref (refs/exps/...) that
    `dvc exp` named so; None if neither."""
    if git("rev-parse", "--verify", "--quiet", f"{source}^{{commit}}").returncode == 0:
        return source
    refs = git("for-each-ref", "--format=%(refname)", "refs/exps").stdout.split()
    named = [r for r in refs if r.rsplit("/", 1)[-1] == source]
    if len(named) > 1:
        raise InputError(f"{source}: {len(named)} experiments have this name; give a commit instead")
    return named[0] if named else None


def load_verdicts(source: str, path: str = DEFAULT_PATH) -> tuple[Verdicts, str]:
    """(verdicts, a label) from a verdict file, a git revision or an experiment name."""
    if Path(source).is_file():
        return read_verdicts(source), source
    rev = resolve_revision(source)
    if rev is None:
        raise InputError(f"{source}: not a verdict file, a git revision or an experiment name")
    shown = git("show", f"{rev}:{path}")
    if shown.returncode != 0:
        raise InputError(f"{source}: no {path} in that commit (validate wrote no verdicts there, or --path is "
                         "wrong)")
    label = source if rev == source else f"{source} ({rev})"
    return parse_verdicts(shown.stdout, f"{source}:{path}"), label


def bootstrap_settings(args) -> tuple[int, int]:
    if args.resamples is not None and args.seed is not None:
        return args.resamples, args.seed
    from sqlforge.commands.flags import check_params_file
    from sqlforge.config import load_params

    cfg = load_params(check_params_file(args.params, "compare", "the bootstrap's resamples and seed")).validate
    return (cfg.bootstrap_resamples if args.resamples is None else args.resamples,
            cfg.bootstrap_seed if args.seed is None else args.seed)


def fmt_p(p: float) -> str:
    return f"{p:.2g}" if p < 0.001 else f"{p:.3f}"


def rows(results: dict[str, Paired]) -> list[list[str]]:
    """One row per predictor: the figures every report (terminal, PR comment) shows."""
    out = []
    for name, r in results.items():
        verdict = "significant" if r.significant else f"not significant (p > {ALPHA:g})"
        out.append([name, str(r.n), f"{r.ex_a:.3f}", f"{r.ex_b:.3f}",
                    f"{r.diff:+.3f} [{r.diff_low:+.3f}, {r.diff_high:+.3f}]", str(len(r.fixed)),
                    str(len(r.broken)), fmt_p(r.p_value), verdict])
    return out


def headers(label_a: str, label_b: str) -> list[str]:
    return ["predictor", "n", f"EX {label_a}", f"EX {label_b}", "diff [95% CI]", "fixed", "broken",
            "McNemar p", ""]


def markdown(results: dict[str, Paired], label_a: str, label_b: str) -> str:
    head = headers(label_a, label_b)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows(results)]
    return "\n".join(lines) + "\n"


def text_table(head: list[str], body: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in [head, *body]) for i in range(len(head))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [head, *body])


def run(args) -> int:
    resamples, seed = bootstrap_settings(args)
    a, label_a = load_verdicts(args.a, args.path)
    if args.b is None:
        results = compare_predictors(a, args.baseline, resamples, seed, label_a)
        title = f"{label_a}: {args.baseline} (A) against each other predictor (B), on the questions both answered"
        out_a, out_b, questions, label_b = args.baseline, "predictor", len(a.ids), None
    else:
        b, label_b = load_verdicts(args.b, args.path)
        questions, results = compare_runs(a, b, resamples, seed, label_a, label_b)
        title = f"A = {label_a}, B = {label_b}: {questions} questions in common"
        out_a, out_b = "A", "B"
    if args.json:
        print(json.dumps({"a": label_a, "b": label_b, "baseline": None if args.b else args.baseline,
                          "questions": questions,
                          "resamples": resamples, "seed": seed,
                          "predictors": {n: r.to_json() for n, r in results.items()}}, indent=1))
        return 0
    print(title)
    print(text_table(headers(out_a, out_b), rows(results)))
    if args.list:
        for name, r in results.items():
            print(f"\n{name}: fixed ({len(r.fixed)}): {' '.join(r.fixed) or '-'}")
            print(f"{name}: broken ({len(r.broken)}): {' '.join(r.broken) or '-'}")
    return 0
