"""Score predictions from files the way the official Spider and BIRD scripts take them.

The library behind `sqlforge evaluate`: reads the official files
(`official_files`), judges execution with `evaluation.verdicts` (the same code
validate uses), exact match with `exact_match` (Spider only), labels each
question with its official difficulty (Spider: `spider_hardness` of the gold;
BIRD: dev.json's `difficulty`), and builds the official summary table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlforge.data.datasets import check_db_id, load_tables
from sqlforge.official.hardness import spider_hardness
from sqlforge.official.bird_metrics import METRICS, BirdMetrics, rves, ves
from sqlforge.official.judge import COMPARE_BUDGET, RULES, verdicts
from sqlforge.official.exact_match import exact_match
from sqlforge.config import SandboxConfig, ValidateConfig
from sqlforge.io import InputError
from sqlforge.scoring.official_files import read_bird_gold, read_bird_predictions, read_spider_files
from sqlforge.official.prediction_text import official_prediction
from sqlforge.sandbox.executor import sandbox_executor

ETYPES = ("all", "exec", "match")
LEVELS = {"spider": ["easy", "medium", "hard", "extra"], "bird": ["simple", "moderate", "challenging"]}
MISSING_DATABASE = "missing_database"


@dataclass
class Options:
    rules: str
    sandbox: SandboxConfig  # the bounds of every query (params.yaml's sandbox section)
    workers: int
    etype: str = "all"
    keep_distinct: bool = False
    plug_value: bool = False
    timeout_s: float | None = None  # None: the official timeout of the rules (Spider 60 s, BIRD 30 s)
    compare_budget_s: float | None = None  # one result comparison past this is scored wrong and counted
    metrics: tuple[str, ...] = ("ex",)  # BIRD: any of ex, f1, ves, rves (EX is always judged)
    # BIRD's other metrics: its ves_runs, rves_runs, outlier_sigmas, timing_workers (params.yaml's validate section)
    timing: ValidateConfig | None = None


def _db_path(db_dir: Path, db_id: str) -> Path:
    return db_dir / db_id / f"{db_id}.sqlite"


def question_name(index: int) -> str:
    """How messages name a question: counted from 1, as lines are, with the 0-based `index` it has in
    verdicts.jsonl beside it (Spider's question n is line n of both files when they have no blank lines)."""
    return f"question {index + 1} (verdicts index {index})"


def load_questions(rules: str, gold: str | Path, pred: str | Path, db_dir: str | Path,
                   tables: dict | None = None) -> list[dict]:
    """One record per question: index, db_id, gold, pred, db_path (the database both run on), difficulty."""
    db_dir = Path(db_dir)
    if not db_dir.is_dir():
        raise InputError(f"{db_dir}: database folder not found")
    if rules == "spider":
        rows = read_spider_files(gold, pred)
        questions = [{**row, "db_path": _db_path(db_dir, row["db_id"]), "difficulty": spider_hardness(row["gold"], (tables or {}).get(row["db_id"]))}
                     for row in rows]
    else:
        golds, preds = read_bird_gold(gold), read_bird_predictions(pred)
        if len(golds) != len(preds):
            raise InputError(f"{pred}: {len(preds)} predictions for the {len(golds)} questions of {gold} "
                             "(the official script pairs them by position)")
        # the official script runs both queries on the database the prediction names
        questions = [{**g, "pred": sql, "db_path": _db_path(db_dir, pred_db)} for g, (sql, pred_db) in zip(golds, preds)]
    for i, q in enumerate(questions):
        q["index"] = i
        check_db_id(q["db_id"], f"{gold}: {question_name(i)}")  # a plain folder name that fits a file name
        check_db_id(Path(q["db_path"]).parent.name, f"{pred}: {question_name(i)}")
        gold_db = _db_path(db_dir, q["db_id"])
        if not gold_db.is_file():
            raise InputError(f"{gold}: {question_name(i)} names database {q['db_id']!r}, but {gold_db} is missing")
    return questions


def score(questions: list[dict], opts: Options, tables: dict | None = None, progress=None,
          timings: dict | None = None) -> list[dict]:
    """One row per question, in order: index, db_id, exec, em (None for BIRD or when not asked), hardness;
    plus gold_failure and error_kind for the summary, and under BIRD rules the metrics of `opts.metrics`
    (f1, ves_ratio, rves_reward). `timings` receives the seconds each timed metric took."""
    if opts.rules == "bird" and opts.etype == "match":
        raise InputError("--etype match: exact match is a Spider metric; BIRD reports execution accuracy only")
    do_exec, do_match = opts.etype in ("all", "exec"), opts.etype in ("all", "match") and opts.rules == "spider"
    extra = [m for m in METRICS if m in opts.metrics and m != "ex"]
    if extra and opts.rules != "bird":
        raise InputError(f"--metric {'/'.join(extra)}: BIRD metrics; Spider reports execution and exact match")
    rows = [{"index": q["index"], "db_id": q["db_id"], "exec": None, "em": None, "hardness": q["difficulty"],
             "gold_failure": None, "error_kind": None} for q in questions]
    if do_exec:
        runnable = [q for q in questions if Path(q["db_path"]).is_file()]
        timeout = opts.timeout_s if opts.timeout_s is not None else RULES[opts.rules]["timeout_s"]
        # judging reads whole results, as the official scripts do: predictions get the golds' row bound
        with sandbox_executor(opts.sandbox, timeout, opts.workers, judging=True) as executor:
            judged = verdicts([{**q, "id": q["index"], "db_path": str(q["db_path"])} for q in runnable],
                              [q["pred"] for q in runnable], opts.rules, executor,
                              keep_distinct=opts.keep_distinct, progress=progress, plug_value=opts.plug_value,
                              compare_budget_s=opts.compare_budget_s)
            if extra:
                _bird_metrics(questions, runnable, judged, opts, timeout, executor, extra, rows,
                              {} if timings is None else timings)
        by_index = {v["id"]: v for v in judged}
        for row in rows:
            v = by_index.get(row["index"])
            if v is None:  # BIRD: the prediction names a database that is not there (officially an empty one)
                row.update(exec=False, error_kind=MISSING_DATABASE)
            else:
                row.update(exec=v["correct"], error_kind=v["error_kind"], gold_failure=v["gold_failure"])
    if do_match:
        if tables is None:
            raise InputError("--tables is needed for exact match (--etype match or all) under Spider rules")
        for q, row in zip(questions, rows):
            if q["db_id"] not in tables:
                raise InputError(f"tables.json has no database {q['db_id']!r} ({question_name(q['index'])})")
            # as the official CLI reads each prediction line ("value" -> "1"); names resolved by tables.json
            row["em"] = bool(exact_match(q["gold"], official_prediction(q["pred"]), tables[q["db_id"]]))
    return rows


def _bird_metrics(questions: list[dict], runnable: list[dict], judged: list[dict], opts: Options, timeout: float,
                  executor, extra: list[str], rows: list[dict], timings: dict) -> None:
    """Soft-F1, VES and R-VES per question into `rows` (f1, ves_ratio, rves_reward; 0 for a prediction naming a
    missing database). The original VES runs both queries on the database the prediction names, as its EX
    does; the mini-dev scripts (Soft-F1, R-VES) on the gold's: a second judging pass where the two differ."""
    cfg = opts.timing
    if cfg is None:
        raise ValueError("Options.timing (the validate params section) is needed for BIRD's other metrics")
    settings = dict(ves_runs=cfg.ves_runs, rves_runs=cfg.rves_runs, outlier_sigmas=cfg.outlier_sigmas)
    with sandbox_executor(opts.sandbox, timeout, cfg.timing_workers, judging=True) as timer:
        passes = []
        if "ves" in extra:
            passes.append((("ves",), runnable, judged))
        mini = tuple(m for m in ("f1", "rves") if m in extra)
        if mini:
            on_gold = [{**q, "id": q["index"], "db_path": str(_gold_db(q))} for q in questions]
            same = all(str(q["db_path"]) == str(_gold_db(q)) for q in questions)
            gold_judged = judged if same else verdicts(on_gold, [q["pred"] for q in questions], opts.rules, executor,
                                                       compare_budget_s=opts.compare_budget_s)
            passes.append((mini, on_gold if not same else runnable, gold_judged))
        for metrics, recs, verdict_list in passes:
            found = BirdMetrics(metrics, timer=timer, **settings).report(
                [{**q, "db_path": str(q["db_path"]), "gold": q["gold"]} for q in recs], [q["pred"] for q in recs],
                verdict_list, timeout)
            by_index = {v["id"]: v for v in verdict_list}
            for row in rows:
                v = by_index.get(row["index"], {})
                for metric in metrics:
                    key = {"f1": "f1", "ves": "ves_ratio", "rves": "rves_reward"}[metric]
                    row[key] = v.get(key, 0.0)
            timings.update({metric: found[f"{metric}_seconds"] for metric in metrics if f"{metric}_seconds" in found})


def _gold_db(q: dict) -> Path:
    return Path(q["db_path"]).parent.parent / q["db_id"] / f"{q['db_id']}.sqlite"


def read_tables(path: str | Path | None) -> dict | None:
    return load_tables(Path(path)) if path else None


def summary(rows: list[dict], rules: str) -> dict:
    """The official table: per difficulty level and overall, the count, EX and (Spider) EM."""
    levels = LEVELS[rules] + (["unknown"] if any(r["hardness"] == "unknown" for r in rows) else [])
    groups = {level: [r for r in rows if r["hardness"] == level] for level in levels}
    groups["all" if rules == "spider" else "total"] = rows
    out = {}
    for level, group in groups.items():
        n = len(group)
        cell = {"count": n}
        for key in ("exec", "em"):
            if group and group[0][key] is not None:
                cell[key] = sum(bool(r[key]) for r in group) / n if n else 0.0
        if rows and "f1" in rows[0]:  # a fraction, as exec
            cell["f1"] = sum(r["f1"] for r in group) / n if n else 0.0
        if rows and "ves_ratio" in rows[0]:  # the official 100 scale
            cell["ves"] = ves([r["ves_ratio"] for r in group])
        if rows and "rves_reward" in rows[0]:
            cell["rves"] = rves([r["rves_reward"] for r in group])
        out[level] = cell
    out["gold_failures"] = sum(1 for r in rows if r["gold_failure"])
    out["compare_budget"] = sum(1 for r in rows if r["error_kind"] == COMPARE_BUDGET)
    return out


def verdict_line(row: dict) -> dict:
    """What verdicts.jsonl holds per question."""
    return {key: row[key] for key in ("index", "db_id", "exec", "em", "hardness", "f1", "ves_ratio", "rves_reward")
            if key in row}
