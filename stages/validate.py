"""validate: execution accuracy on the dev set under the official rules.

Predictors, all fair: `greedy` (the SFT model's greedy SQL), `majority_vote`
(largest group of identical execution results among greedy + N samples),
`best_of_n_rm` (the reward model's top candidate), `best_of_n_rm_logprob` (top
by reward-model score + validate.rm_logprob_weight x the policy's log-prob),
`greedy_rl` (the rl stage's policy, greedy; absent when rl.method is none) and `mcts_<selector>`
(mcts-explore's choice, on the questions it searched), plus every other
MCTS selector on the same candidates (`mcts_ex_by_selector`). `oracle_pass_at_n`
(any candidate right) and `oracle_mcts_any_candidate` (any SQL the search
found right) use the gold and are upper bounds, not predictors.
For Spider rules each predictor also gets exact-set-match (`em`). Every EX and EM carries its 95% Wilson
interval (`ex_low`/`ex_high`, `em_low`/`em_high`; sqlforge.scoring.significance says why Wilson), and
`vs_greedy` compares every other predictor with greedy on the same questions: questions fixed and broken,
the exact McNemar p-value and a paired bootstrap interval of the difference. `--verdicts` gets every
question's verdict per predictor (sqlforge.scoring.verdicts), small enough for git, so two runs can be
compared question by question (`sqlforge compare`).
For BIRD rules each predictor also gets the metrics of
`validate.bird_metrics` (Soft-F1, VES, R-VES; timed ones measured in `validate.timing_workers` sandbox
workers after the judging is done, and their seconds printed).
Verdicts are computed after the predictions are fixed. Predictions are also written in
the official formats (Spider: one SQL per line in question order, plus
gold.sql with db_ids; BIRD: the index -> "SQL\t----- bird -----\tdb_id" JSON),
so the official scripts can cross-check every number.
"""

from __future__ import annotations

import argparse
import json
import hashlib
from pathlib import Path

from sqlforge.stage_runner import progress, run_stage, summary
from sqlforge.config import MCTSConfig, choices, load_params
from sqlforge.official.judge import judge_from, judging
from sqlforge.io import InputError, atomic_path, dump_jsonl, read_json, read_jsonl, write_json
from sqlforge.search.mcts import choose
from sqlforge.scoring.official_files import bird_prediction_text, difficulty_lines, gold_text, spider_prediction_text
from sqlforge.scoring.significance import paired, wilson
from sqlforge.scoring.verdicts import verdicts_text
from sqlforge.records import CandidateSet, Example, MCTSResult, read_records
from sqlforge.search.selection import select
from sqlforge.sandbox.executor import sandbox_executor


# the official semantics each rules name reproduces (docs/evaluation.md)
REPRODUCES = {"spider": "taoyds/test-suite-sql-eval evaluation.py + exec_eval.py (execution and exact-set match)",
              "bird": "AlibabaResearch/DAMO-ConvAI bird/llm/src/evaluation.py (June 2023); VES: its evaluation_ves.py; "
                      "Soft-F1 and R-VES: bird-bench/mini_dev evaluation/evaluation_f1.py, evaluation_ves.py"}


def dataset_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def write_official_format(out: Path, name: str, rules: str, records: list[dict], sqls: list[str]) -> None:
    """Files the official evaluators read, by their reading rules (sqlforge.scoring.official_files). Spider: one
    SQL per line in question order (gold lines add a tab and the db_id). BIRD: predict JSON with keys in
    question order, or dev_gold.sql-style lines for the gold."""
    db_ids = [rec["db_id"] for rec in records]
    if name == "gold":
        (out / "gold.sql").write_text(gold_text(sqls, db_ids), encoding="utf-8")
        return
    (out / f"{name}.sql").write_text(spider_prediction_text(sqls), encoding="utf-8")
    if rules == "bird":  # the original and the mini-dev scripts read the same prediction JSON
        (out / f"{name}_bird.json").write_text(bird_prediction_text(sqls, db_ids), encoding="utf-8")


def with_intervals(block: dict, questions: int) -> dict:
    """A report block with the 95% Wilson interval of its `ex` (and `em`) over `questions` questions."""
    for kind in ("ex", "em"):
        if kind in block:
            block[f"{kind}_low"], block[f"{kind}_high"] = wilson(round(block[kind] * questions), questions)
    return block


def write_difficulties(out: Path, records: list[dict]) -> None:
    """The mini-dev scripts' --diff_json_path: one JSON object per line with the question's difficulty."""
    (out / "gold_difficulty.jsonl").write_text(difficulty_lines([r["difficulty"] for r in records]), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", required=True)
    parser.add_argument("--dev", required=True)
    parser.add_argument("--tables", required=True)
    parser.add_argument("--candidates", required=True)
    parser.add_argument("--rm-scores", required=True)
    parser.add_argument("--mcts", required=True)
    parser.add_argument("--rl-greedy", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--plots", required=True)
    parser.add_argument("--metrics", required=True)
    parser.add_argument("--verdicts", required=True)
    args = parser.parse_args()
    params = load_params(args.params)
    cfg = params.validate
    rules, timeout, keep_distinct = judging(cfg, params.data.dataset)
    plug_value = cfg.plug_value and rules == "spider"  # the test-suite's --plug_value; BIRD has none
    records = read_records(args.dev, Example)
    if not records:
        raise InputError(f"{args.dev}: no dev questions")
    if cfg.max_questions > 0:
        records = records[: cfg.max_questions]
    cands = {c["id"]: c for c in read_records(args.candidates, CandidateSet)}
    rm_scores = {r["id"]: r["rm_scores"] for r in read_jsonl(args.rm_scores)}
    mcts = {r["id"]: r for r in read_records(args.mcts, MCTSResult)}
    missing = next((r["id"] for r in records if r["id"] not in cands), None)
    if missing is not None:
        raise InputError(f"{args.candidates}: no candidates for question {missing!r}")
    if not mcts:
        raise InputError(f"{args.mcts}: no MCTS results")
    rl_greedy = {c["id"]: c["candidates"][0]["sql"] for c in read_records(args.rl_greedy, CandidateSet)}
    missing = next((r["id"] for r in records if rl_greedy and r["id"] not in rl_greedy), None)
    if missing is not None:
        raise InputError(f"{args.rl_greedy}: no rl greedy SQL for question {missing!r}")

    metrics: dict = {"rules": {"name": rules, "timeout_s": timeout, "distinct_removed": not keep_distinct,
                               "test_suite_databases": rules == "spider", "plug_value": plug_value,
                               "order_by": "textual 'order by' in gold" if rules == "spider" else "ignored",
                               "reproduces": REPRODUCES[rules], "max_result_rows": params.sandbox.gold_max_rows},
                     "dataset": {"name": params.data.dataset, "dev_sha256": dataset_hash(Path(args.dev)),
                                 "questions": len(records)},
                     "intervals": "95% Wilson score interval per proportion; vs_greedy: exact McNemar p, "
                                  "95% paired bootstrap percentile interval of the difference"}
    # the timed metrics' workers, apart from the judging ones (started only if BIRD's VES or R-VES is asked for)
    with sandbox_executor(params.sandbox, timeout, cfg.workers, judging=True) as executor, \
            sandbox_executor(params.sandbox, timeout, cfg.timing_workers, judging=True) as timer, \
            atomic_path(args.out, is_dir=True) as out:
        # fair selectors: candidates, their scores and their own execution results, never the gold
        executions = {}
        for rec in records:
            sqls = [c["sql"] for c in cands[rec["id"]]["candidates"]]
            executions[rec["id"]] = executor.execute_many([(rec["db_path"], sql) for sql in sqls])
        picks = {rec["id"]: select(cands[rec["id"]], executions[rec["id"]], rm_scores.get(rec["id"]),
                                   cfg.rm_logprob_weight)
                 for rec in records}
        on_mcts = [rec for rec in records if rec["id"] in mcts]
        predictors = {name: (records, [picks[r["id"]][name] for r in records])
                      for name in ("greedy", "majority_vote", "best_of_n_rm", "best_of_n_rm_logprob")
                      if name in picks[records[0]["id"]]}
        if rl_greedy:  # the rl stage's policy, greedy, on the same questions (none when rl.method is none)
            predictors["greedy_rl"] = (records, [rl_greedy[r["id"]] for r in records])
        predictors[f"mcts_{params.mcts.selector}"] = (on_mcts, [mcts[r["id"]]["chosen_sql"] for r in on_mcts])
        if len(on_mcts) < len(records):  # the same questions, for a fair comparison
            predictors["greedy_on_mcts_questions"] = (on_mcts, [picks[r["id"]]["greedy"] for r in on_mcts])

        judge = judge_from(cfg, params.data.dataset, executor, read_json(args.tables) if rules == "spider" else None,
                           timer)
        judged = {}  # predictor -> (its questions, one verdict per question)
        for name, (recs, preds) in predictors.items():
            with progress(f"validate {name}", len(preds)) as advance:
                # Spider: with `em`; BIRD: with validate.bird_metrics
                metrics[name], result = judge.report(recs, preds, progress=advance, all_metrics=True)
            with_intervals(metrics[name], len(recs))
            judged[name] = (recs, result)
            write_official_format(out, name, rules, recs, preds)
            dump_jsonl(out / f"{name}.jsonl", [{**v, "sql": p} for v, p in zip(result, preds)])
        write_official_format(out, "gold", rules, records, [r["gold"] for r in records])
        if rules == "bird":
            write_difficulties(out, records)
            metrics["rules"]["bird_metrics"] = {"metrics": list(cfg.bird_metrics), "ves_runs": cfg.ves_runs,
                                                "rves_runs": cfg.rves_runs, "outlier_sigmas": cfg.outlier_sigmas,
                                                "timing_workers": cfg.timing_workers}

        cand_sqls = [[c["sql"] for c in cands[r["id"]]["candidates"]] for r in records]
        metrics["oracle_pass_at_n"] = {**with_intervals(judge.any_correct(records, cand_sqls), len(records)),
                                       "n": sum(map(len, cand_sqls)) // max(1, len(records))}
        # every gold-free selector on the same MCTS candidates (choices made before any verdict), and,
        # under an oracle name, whether any candidate MCTS found is right: the ceiling of all selectors
        mcts_cands = [mcts[r["id"]]["candidates"] for r in on_mcts]
        scored = all(c["rm_score"] is not None for cands_ in mcts_cands for c in cands_)
        metrics["mcts_ex_by_selector"] = {}
        for selector in sorted(choices(MCTSConfig, "selector")):
            if selector == "reward_model" and not scored:  # RM scores exist only when mcts-explore loaded the RM
                continue
            chosen = [choose(cands_, selector) for cands_ in mcts_cands]
            metrics["mcts_ex_by_selector"][selector] = judge.report(on_mcts, [c["sql"] if c else "" for c in chosen])[0]["ex"]
        metrics["oracle_mcts_any_candidate"] = {
            **with_intervals(judge.any_correct(on_mcts, [[c["sql"] for c in cands_] for cands_ in mcts_cands]),
                             len(on_mcts)),
            "mean_candidates": sum(map(len, mcts_cands)) / max(1, len(on_mcts))}
        # anytime MCTS: the choice it would have made after 1, 2, 4, ... iterations
        snapshots = sorted({k for r in on_mcts for k in mcts[r["id"]].get("chosen_by_iterations", {})}, key=int)
        metrics["mcts_ex_by_iterations"] = {
            k: judge.report(on_mcts, [mcts[r["id"]]["chosen_by_iterations"][k] for r in on_mcts])[0]["ex"]
            for k in snapshots}
        metrics["executed_queries"] = executor.calls
        if rules == "bird":
            metrics["timed_runs"] = timer.timed_runs  # paired timing runs (VES, R-VES) over every predictor
    # every other predictor against greedy on the questions it answered: which flipped, and is it chance?
    greedy_ok = {v["id"]: v["correct"] for v in judged["greedy"][1]} if "greedy" in judged else {}
    metrics["vs_greedy"] = {}
    for name, (recs, result) in judged.items():
        if name in ("greedy", "greedy_on_mcts_questions") or not greedy_ok:
            continue
        cmp = paired([r["id"] for r in recs], [greedy_ok[r["id"]] for r in recs], [v["correct"] for v in result],
                     cfg.bootstrap_resamples, cfg.bootstrap_seed)
        metrics["vs_greedy"][name] = {"n": cmp.n, "diff": cmp.diff, "fixed": len(cmp.fixed),
                                      "broken": len(cmp.broken), "mcnemar_p": cmp.p_value,
                                      "diff_low": cmp.diff_low, "diff_high": cmp.diff_high}
    with atomic_path(args.verdicts) as tmp:
        tmp.write_text(verdicts_text(records, judged), encoding="utf-8")
    write_json(args.metrics, metrics)
    with atomic_path(args.plots, is_dir=True) as plots:
        rows = [{"predictor_difficulty": f"{name} / {difficulty}", "ex": ex}
                for name in [*predictors, "oracle_pass_at_n"]
                for difficulty, ex in [("all", metrics[name]["ex"]), *metrics[name]["ex_by_difficulty"].items()]]
        # plain JSON lists: DVC plots read JSON, YAML, CSV and TSV (not JSONL)
        (plots / "ex_by_difficulty.json").write_text(json.dumps(rows, indent=1))
        (plots / "mcts_ex_by_iterations.json").write_text(json.dumps(
            [{"iterations": int(k), "ex": ex} for k, ex in metrics["mcts_ex_by_iterations"].items()], indent=1))
    bird = {f"{name} {metric}": metrics[name][metric] for name in predictors for metric in ("f1", "ves", "rves")
            if metric in metrics[name]}
    timing = {f"{name} {metric} seconds (timed metric)": metrics[name][f"{metric}_seconds"]
              for name in predictors for metric in ("ves", "rves") if f"{metric}_seconds" in metrics[name]}
    summary("validate", {**{f"{name} ex (n={metrics[name]['n']})": metrics[name]["ex"]
                            for name in [*predictors, "oracle_pass_at_n"]}, **bird, **timing,
                         "gold SQL failing (scored wrong, as officially)": metrics[next(iter(predictors))]["gold_failures"]})


if __name__ == "__main__":
    run_stage(main)
