"""Execution-accuracy comparison under the official rules (docs/evaluation.md).

spider (test-suite evaluator): DISTINCT removed from both queries unless
keep_distinct; both empty -> equal; row and column counts must match;
columns may be permuted; rows compared as a multiset, after the official
"quick rejection" (sqlforge.official.result_compare); order matters when the
gold SQL text contains "order by" (the official check is textual, so an
ORDER BY in a subquery counts too); a prediction must match on every
`.sqlite` in the database folder (test-suite databases).
bird: set(pred_rows) == set(gold_rows); column order matters; one database.
Values compare with Python equality, as both official scripts do (1 == 1.0).

`verdicts` runs the text each official script runs (Spider: its prediction
rewriting, `plug_value`; BIRD: the SQL as written, an empty prediction too),
judges full results (up to the executor's row bound: sandbox.gold_max_rows), and scores a gold that fails as the
official scripts do (wrong) without stopping, flagged in `gold_failure`.
docs/evaluation.md lists every rule next to the official behaviour.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from sqlforge.official.result_compare import CompareBudgetExceeded, spider_result_eq  # noqa: F401 (re-exported)
from sqlforge.official.bird_metrics import BirdMetrics, soft_f1_or_zero
from sqlforge.official.exact_match import exact_match
from sqlforge.official.plug_value import plugged_predictions
from sqlforge.official.prediction_text import exec_text, official_prediction
from sqlforge.sandbox.sqlite import EMPTY, ExecResult, TIMEOUT

RULES = {"spider": {"timeout_s": 60.0}, "bird": {"timeout_s": 30.0}}


def rules_for(dataset: str, requested: str = "auto") -> str:
    if requested != "auto":
        return requested
    return "bird" if dataset == "bird" else "spider"


def has_order_by(sql: str) -> bool:
    """The official test-suite check: the text "order by" anywhere in the gold SQL."""
    return "order by" in sql.lower()


def test_suite_databases(db_path: str) -> list[str]:
    """Every .sqlite in the database's folder: Spider's test-suite distilled databases live beside it."""
    folder = Path(db_path).parent
    others = sorted(str(p) for p in folder.glob("*.sqlite") if p.resolve() != Path(db_path).resolve())
    return [str(db_path)] + others


def bird_result_eq(gold: list[tuple], pred: list[tuple]) -> bool:
    return set(pred) == set(gold)


def results_match(rules: str, gold_sql: str, gold: list[tuple], pred: list[tuple],
                  budget_s: float | None = None) -> bool:
    """Raises CompareBudgetExceeded when a Spider comparison runs past `budget_s` (BIRD's is linear)."""
    if rules == "bird":
        return bird_result_eq(gold, pred)
    return spider_result_eq(gold, pred, has_order_by(gold_sql), budget_s=budget_s)


def gold_timeout(t_gold: float, t_min: float, k: float, c: float) -> float:
    """ReSQLver's dynamic prediction timeout: max(t_min, k * t_gold + c)."""
    return max(t_min, k * t_gold + c)


def spider_exec_sql(sql: str, keep_distinct: bool, is_prediction: bool) -> str:
    """The text the test-suite evaluator executes: a prediction as its CLI reads the line
    (`prediction_text.official_prediction`), then its exec path's rewriting (`prediction_text.exec_text`)."""
    return exec_text(official_prediction(sql) if is_prediction else sql, keep_distinct)


def _plan(rec: dict, pred: str, rules: str, keep_distinct: bool, plug_value: bool,
          folders: dict | None = None) -> tuple[list[str], str, list[str]]:
    """(databases, gold SQL as run, prediction alternatives as run) for one question; `folders` caches
    each database's test-suite listing within one call of verdicts."""
    if rules == "bird":  # run as written; only the prediction's database is used (the record's db_path)
        return [rec["db_path"]], rec["gold"], [pred]
    gold = spider_exec_sql(rec["gold"], keep_distinct, is_prediction=False)
    first = spider_exec_sql(pred, keep_distinct, is_prediction=True)
    alternatives = [first]
    if plug_value:  # the official order: the prediction itself, then every way of plugging gold values in
        alternatives += [p for p in plugged_predictions(gold, first) if p != first]
    folders = {} if folders is None else folders
    if rec["db_path"] not in folders:
        folders[rec["db_path"]] = test_suite_databases(rec["db_path"])
    return folders[rec["db_path"]], gold, alternatives


# error_kind of a prediction whose result comparison ran past its time budget (scored wrong, counted)
COMPARE_BUDGET = "compare_budget"


def verdicts(records: list[dict], predictions: list[str], rules: str, executor, keep_distinct: bool = False,
             progress=None, plug_value: bool = False, compare_budget_s: float | None = None) -> list[dict]:
    """Execute each prediction and its gold; never uses a prediction to choose another.

    All distinct (database, SQL) queries run once, spread over the executor's workers. A gold that fails,
    times out or returns too much never stops the run: the question is scored as the official evaluator
    scores it (BIRD: wrong, its script catches every error; Spider: wrong, where the test-suite script
    stops with an AssertionError) and flagged in `gold_failure` (the gold's error kind).
    A result comparison that runs past `compare_budget_s` is scored wrong with error_kind COMPARE_BUDGET.
    Each verdict: id, correct, error_kind (the prediction's), gold_failure (None or the gold's error kind);
    under BIRD rules also f1 (the mini-dev Soft-F1 of the two results, 0 when either fails or the pair passes
    the time budget) and seconds (prediction and gold together, the part of the timed metrics' budget used).
    """
    folders: dict = {}
    plans = [_plan(rec, pred, rules, keep_distinct, plug_value, folders) for rec, pred in zip(records, predictions)]
    out = []
    for start, end in _chunks(len(plans), executor):
        chunk = plans[start:end]
        # golds are trusted: they run under the sandbox's larger gold limits, apart from the predictions
        gold_queries = list(dict.fromkeys((db, gold) for dbs, gold, _ in chunk for db in dbs if gold.strip()))
        pred_queries = [(db, sql) for dbs, _, alts in chunk for db in dbs for sql in alts if sql.strip()]
        golds = dict(zip(gold_queries, executor.execute_many(gold_queries, trusted=True)))
        preds = dict(zip(pred_queries, executor.execute_many(pred_queries, progress=progress)))
        out += [_verdict(rec, dbs, gold, alts, rules, golds, preds, executor.timeout_s, compare_budget_s)
                for rec, (dbs, gold, alts) in zip(records[start:end], chunk)]
        del golds, preds  # judged: only the executor's bounded cache keeps results past this chunk
    return out


# questions judged together per sandbox worker: enough to keep every worker busy, few enough that the
# results held at once (besides the executor's cache, bounded by sandbox.cache_mb) do not grow with the file
QUESTIONS_PER_WORKER = 4


def _chunks(n: int, executor) -> list[tuple[int, int]]:
    step = QUESTIONS_PER_WORKER * max(1, getattr(executor, "workers", 1))
    return [(start, min(n, start + step)) for start in range(0, n, step)]


def _run(results: dict, db: str, sql: str, rules: str):
    if sql.strip():
        return results[(db, sql)]
    # BIRD's script runs an empty prediction: sqlite3 executes "" as no statement and returns no rows.
    # Spider's file cannot hold one: it is exported as the placeholder `SELECT`, a syntax error there.
    return ExecResult() if rules == "bird" else ExecResult(error_kind=EMPTY, error="empty query")


def _verdict(rec: dict, dbs: list[str], gold_sql: str, alternatives: list[str], rules: str, gold_results: dict,
             pred_results: dict, timeout_s: float, compare_budget_s: float | None = None) -> dict:
    golds = [_run(gold_results, db, gold_sql, rules) for db in dbs]
    failed = next((g for g in golds if not g.ok), None)
    out = {"id": rec["id"], "correct": False, "error_kind": "ok", "gold_failure": failed and failed.error_kind}
    if rules == "bird":
        out.update(f1=0.0, seconds=0.0)
    for pred_sql in alternatives:
        for db, gold in zip(dbs, golds):
            result = _run(pred_results, db, pred_sql, rules)
            if not result.ok:
                out["error_kind"] = result.error_kind
                break
            if not gold.ok:
                break
            if rules == "bird":
                out["seconds"] = result.seconds + gold.seconds
                if out["seconds"] > timeout_s:
                    # BIRD's script gives prediction and gold one budget together (meta_time_out)
                    out["error_kind"] = TIMEOUT
                    break
                out["f1"] = soft_f1_or_zero(result.rows, gold.rows)
            try:
                if not results_match(rules, rec["gold"], gold.rows, result.rows, budget_s=compare_budget_s):
                    break
            except CompareBudgetExceeded:
                out["error_kind"] = COMPARE_BUDGET
                break
        else:
            if failed is None:
                out.update(correct=True, error_kind="ok")
                return out
    return out


def gold_failures(records: list[dict], rules: str, executor) -> dict:
    """Golds that fail, time out or return too much on a database they are judged on: count, kinds, ids."""
    plans = [_plan(rec, "", rules, keep_distinct=True, plug_value=False) for rec in records]
    failed = []
    for start, end in _chunks(len(plans), executor):  # only error kinds are kept: results go chunk by chunk
        queries = [(db, gold) for dbs, gold, _ in plans[start:end] for db in dbs]
        kinds = dict(zip(queries, (r.error_kind for r in executor.execute_many(queries, trusted=True))))
        failed += [(rec["id"], next((kinds[(db, gold)] for db in dbs if kinds[(db, gold)] != "ok"), None))
                   for rec, (dbs, gold, _) in zip(records[start:end], plans[start:end])]
    failed = [(qid, kind) for qid, kind in failed if kind]
    return {"count": len(failed), "by_kind": dict(sorted(Counter(kind for _, kind in failed).items())),
            "ids": [qid for qid, _ in failed[:50]]}


@dataclass
class Judge:
    """One evaluator's settings, applied the same way to every predictor a stage scores."""
    rules: str
    executor: object
    keep_distinct: bool = False
    plug_value: bool = False
    compare_budget_s: float | None = None
    tables: dict | None = None  # db_id -> tables.json entry: Spider exact match resolves names with it
    bird: BirdMetrics | None = None  # BIRD rules: Soft-F1, VES, R-VES besides EX (report(..., all_metrics=True))

    def verdicts(self, records: list[dict], predictions: list[str], progress=None) -> list[dict]:
        return verdicts(records, predictions, self.rules, self.executor, self.keep_distinct, progress,
                        self.plug_value, self.compare_budget_s)

    def report(self, records: list[dict], predictions: list[str], progress=None,
               all_metrics: bool = False) -> tuple[dict, list[dict]]:
        """accuracy_report (with Spider's exact match as `em`) and the verdicts behind it. `all_metrics`: under
        BIRD rules also the metrics `bird` asks for (Soft-F1, VES, R-VES), in the report and in each verdict."""
        judged = self.verdicts(records, predictions, progress)
        report = accuracy_report(records, judged)
        if all_metrics and self.rules == "bird" and self.bird is not None:
            report.update(self.bird.report(records, predictions, judged, getattr(self.executor, "timeout_s")))
        if self.rules == "spider":
            tables = self.tables or {}
            for r, p, v in zip(records, predictions, judged):  # per question too: the verdict file's em column
                v["em"] = bool(exact_match(r["gold"], official_prediction(p), tables.get(r["db_id"])))
            report["em"] = sum(v["em"] for v in judged) / max(1, len(records))
        return report, judged

    def any_correct(self, records: list[dict], sql_lists: list[list[str]]) -> dict:
        """Oracle, to be reported under a name that says so: does any of a question's SQLs match the gold?"""
        flat = [(rec, sql) for rec, sqls in zip(records, sql_lists) for sql in sqls]
        judged = iter(self.verdicts([r for r, _ in flat], [sql for _, sql in flat]))
        found = [{"id": rec["id"], "correct": any([next(judged)["correct"] for _ in sqls])}
                 for rec, sqls in zip(records, sql_lists)]
        return accuracy_report(records, found)


def accuracy_report(records: list[dict], verdict_list: list[dict]) -> dict:
    by_diff: dict[str, list[bool]] = {}
    for rec, v in zip(records, verdict_list):
        by_diff.setdefault(rec["difficulty"], []).append(v["correct"])
    n = len(verdict_list)
    return {
        "ex": sum(v["correct"] for v in verdict_list) / n if n else 0.0,
        "n": n,
        "ex_by_difficulty": {d: sum(vs) / len(vs) for d, vs in sorted(by_diff.items())},
        # scored wrong as the official evaluator does; a run with any is not the official number's twin
        "gold_failures": sum(1 for v in verdict_list if v.get("gold_failure")),
    }


def judge_from(cfg, dataset: str, executor, tables: dict | None = None, timer=None) -> Judge:
    """The Judge the validate params section (`cfg`) describes for `dataset`; `timer` (an executor of
    `cfg.timing_workers` workers) measures VES and R-VES when `cfg.bird_metrics` asks for them."""
    rules, _, keep_distinct = judging(cfg, dataset)
    bird = None
    if rules == "bird":
        bird = BirdMetrics(tuple(cfg.bird_metrics), cfg.ves_runs, cfg.rves_runs, cfg.outlier_sigmas, timer)
    return Judge(rules, executor, keep_distinct, cfg.plug_value and rules == "spider", cfg.compare_budget_s,
                 tables if rules == "spider" else None, bird)


def judging(cfg, dataset: str) -> tuple[str, float, bool]:
    """(rules, timeout, keep_distinct) for `dataset` under the validate params section `cfg`."""
    rules = rules_for(dataset, cfg.rules)
    timeout = min(cfg.timeout_s, RULES[rules]["timeout_s"])
    return rules, timeout, cfg.keep_distinct or rules == "bird"
