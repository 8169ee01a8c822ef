"""`sqlforge evaluate`: score any system's predictions as the official Spider or BIRD script does.

    sqlforge evaluate --rules spider --gold GOLD.sql --pred PRED.sql --db DATABASE_DIR --tables tables.json --out verdicts.jsonl
    sqlforge evaluate --rules bird --gold dev.json --pred predict_dev.json --db DATABASE_DIR --out verdicts.jsonl

Prints the official summary table (count, EX and, for Spider, EM per difficulty) and
writes one JSON line per question in order: index, db_id, exec, em (null for BIRD), hardness.
The rules are those of docs/evaluation.md; the logic lives in sqlforge.scoring.files.
"""

from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.table import Table

from sqlforge.commands import flags
from sqlforge.commands.flags import check_params_file
from sqlforge.stage_runner import progress
from sqlforge.config import load_params
from sqlforge.io import atomic_path
from sqlforge.official.bird_metrics import METRICS
from sqlforge.scoring.files import ETYPES, Options, load_questions, read_tables, score, summary, verdict_line


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("evaluate", help="score predictions with the official Spider/BIRD rules",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rules", choices=("spider", "bird"), required=True)
    parser.add_argument("--gold", required=True, help="Spider: SQL<TAB>db_id per line; BIRD: dev.json")
    parser.add_argument("--pred", required=True, help="Spider: one SQL per line; BIRD: predict_dev.json")
    parser.add_argument("--db", required=True, help="folder holding <db_id>/<db_id>.sqlite")
    parser.add_argument("--tables", help="tables.json (Spider exact match)")
    parser.add_argument("--out", required=True, help="verdicts.jsonl to write")
    parser.add_argument("--etype", choices=ETYPES, default="all",
                        help="exec, match (Spider exact match) or all (default)")
    parser.add_argument("--metric", choices=(*METRICS, "all"), default="ex",
                        help="BIRD: ex (default), f1 (mini-dev Soft-F1), ves (original VES), rves (mini-dev R-VES) "
                             "or all; EX is always reported. The timed ones take validate.ves_runs, rves_runs, "
                             "outlier_sigmas and timing_workers from --params")
    parser.add_argument("--keep-distinct", action="store_true", help="Spider: keep DISTINCT when executing")
    parser.add_argument("--plug-value", action="store_true",
                        help="Spider: also try the prediction with the gold's values plugged in")
    parser.add_argument("--timeout", type=flags.seconds(), default=None,
                        help="seconds per query, above 0 and at most a day "
                             "(default: the official 60 for Spider, 30 for BIRD)")
    parser.add_argument("--compare-budget", type=flags.seconds(), default=None,
                        help="seconds one result comparison may take before the question is scored wrong and "
                             "counted, as validate does (default: validate.compare_budget_s in --params)")
    parser.add_argument("--workers", type=flags.integer(1, flags.MAX_WORKERS), default=None,
                        help=f"sandbox worker processes, 1 to {flags.MAX_WORKERS} "
                             "(default: validate.workers in --params)")
    parser.add_argument("--params", default="params.yaml",
                        help="the project's params: its sandbox section bounds every query's memory and result "
                             "size (default: params.yaml)")
    parser.set_defaults(func=run)


def run(args) -> int:
    params = load_params(check_params_file(args.params, "evaluate", "its sandbox section bounds every query"))
    workers = params.validate.workers if args.workers is None else args.workers
    opts = Options(rules=args.rules, etype=args.etype, keep_distinct=args.keep_distinct, plug_value=args.plug_value,
                   sandbox=params.sandbox, workers=workers, timeout_s=args.timeout,
                   compare_budget_s=(params.validate.compare_budget_s if args.compare_budget is None
                                     else args.compare_budget),
                   metrics=METRICS if args.metric == "all" else (args.metric,), timing=params.validate)
    # tables.json: exact match resolves names and keys by it, and so does the official hardness of each gold
    tables = read_tables(args.tables) if args.rules == "spider" else None
    questions = load_questions(args.rules, args.gold, args.pred, args.db, tables)
    timings: dict = {}
    with progress("evaluate", len(questions)) as advance:
        rows = score(questions, opts, tables, progress=advance, timings=timings)
    with atomic_path(args.out) as tmp:
        tmp.write_text("".join(json.dumps(verdict_line(r)) + "\n" for r in rows), encoding="utf-8")
    print_summary(summary(rows, args.rules), args.rules)
    cfg = params.validate
    for metric, seconds in timings.items():
        runs = cfg.ves_runs if metric == "ves" else cfg.rves_runs
        print(f"{metric}: {runs} timed runs per right prediction, {cfg.timing_workers} timing worker(s), "
              f"{seconds:.1f} s")
    return 0


def print_summary(table: dict, rules: str) -> None:
    levels = [k for k in table if k not in ("gold_failures", "compare_budget")]
    out = Table(title=f"{rules} evaluation (official rules)")
    out.add_column("")
    for level in levels:
        out.add_column(level, justify="right")
    out.add_row("count", *[str(table[level]["count"]) for level in levels])
    names = {"exec": "execution", "em": "exact match", "f1": "soft-F1", "ves": "VES (x100)", "rves": "R-VES (x100)"}
    for key in ("exec", "em", "f1"):
        if key in table[levels[-1]]:
            out.add_row(names[key], *[f"{table[level].get(key, 0.0):.3f}" for level in levels])
    for key in ("ves", "rves"):
        if key in table[levels[-1]]:
            out.add_row(names[key], *[f"{table[level].get(key, 0.0):.2f}" for level in levels])
    Console().print(out)
    if table["gold_failures"]:
        print(f"gold SQL failing, scored wrong as the official script does: {table['gold_failures']}")
    if table["compare_budget"]:
        print(f"result comparisons past --compare-budget, scored wrong: {table['compare_budget']}")
