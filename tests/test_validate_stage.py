"""validate on a Spider-format and a BIRD-format dev set with a failing gold and an empty prediction:
the stage finishes, counts `gold_failures` per predictor, and its exported files read back by the
official readers' rules (one non-empty line per gold line; BIRD keys in question order)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import REPO, write_params
from real_formats import RAILWAY_DEV, make_bird, make_spider_keywords
from sqlforge.data.datasets import load_split


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def run_validate(tmp_path, dataset, records, preds, tables=None, mcts_preds=None, validate=None, rl_preds=None):
    """Stage inputs as the earlier stages write them: dev records, candidates (greedy + one sample),
    RM scores and MCTS results, each candidate here being the given prediction (MCTS's: `mcts_preds`)."""
    mcts_preds = preds if mcts_preds is None else mcts_preds
    write_jsonl(tmp_path / "dev.jsonl", [{**r, "schema": ""} for r in records])
    (tmp_path / "dev_tables.json").write_text(json.dumps(tables or {}))  # preprocess writes dev's tables entries
    write_jsonl(tmp_path / "cands.jsonl", [{"id": r["id"], "db_id": r["db_id"], "candidates": [
        {"sql": p, "logprob": -1.0, "source": "greedy"}, {"sql": p, "logprob": -2.0, "source": "sample"}]}
        for r, p in zip(records, preds)])
    write_jsonl(tmp_path / "rm.jsonl", [{"id": r["id"], "rm_scores": [0.5, 0.1]} for r in records])
    # the rl stage's greedy SQL (rl_preds), or none (rl.method none)
    write_jsonl(tmp_path / "rl.jsonl", [{"id": r["id"], "db_id": r["db_id"], "candidates": [
        {"sql": p, "logprob": -1.0, "source": "greedy"}]} for r, p in zip(records, rl_preds or [])])
    write_jsonl(tmp_path / "mcts.jsonl", [{"id": r["id"], "db_id": r["db_id"], "selector": "best_reward",
                                           "chosen_sql": p, "chosen_by_iterations": {"1": p},
                                           "candidates": [{"sql": p, "visits": 1, "q": 1.0, "reward": 1.0,
                                                           "intuition": 1.0, "goal": 0.0, "rm_score": None,
                                                           "exec_status": "ok", "exec_key": "k"}]}
                                          for r, p in zip(records, mcts_preds)])
    params = tmp_path / "params.yaml"
    write_params(params, {"data": {"dataset": dataset}, "validate": {"timeout_s": 5.0, **(validate or {})},
                          "mcts": {"selector": "best_reward"}})
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, str(REPO / "stages" / "validate.py"), "--params", str(params),
                           "--dev", str(tmp_path / "dev.jsonl"), "--tables", str(tmp_path / "dev_tables.json"),
                           "--candidates", str(tmp_path / "cands.jsonl"),
                           "--rm-scores", str(tmp_path / "rm.jsonl"), "--mcts", str(tmp_path / "mcts.jsonl"),
                           "--rl-greedy", str(tmp_path / "rl.jsonl"), "--out", str(out), "--plots", str(tmp_path / "plots"),
                           "--metrics", str(tmp_path / "validate.json"), "--verdicts", str(tmp_path / "verdicts.tsv")],
                          capture_output=True, text=True, cwd=REPO)
    return proc, out


def official_lines(path):
    """The test-suite reader: stripped lines split at tabs; a blank line would start a new session."""
    lines = path.read_text().splitlines()
    assert all(line.strip() for line in lines)
    return [line.strip().split("\t") for line in lines]


def test_validate_spider_counts_gold_failures_and_exports_official_files(tmp_path):
    root = make_spider_keywords(tmp_path / "spider")
    dev = load_split(root, "spider", "dev")
    records = [ex.to_dict() for ex in dev.examples]
    proc, out = run_validate(tmp_path, "spider", records, [p for _, _, p in RAILWAY_DEV], dev.tables)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((tmp_path / "validate.json").read_text())
    for name in ("greedy", "majority_vote", "best_of_n_rm", "mcts_best_reward"):
        assert metrics[name]["gold_failures"] == 1 and metrics[name]["n"] == 5
        assert metrics[name]["ex"] == pytest.approx(3 / 5)
        assert {"ex", "em", "ex_by_difficulty"} <= set(metrics[name])
    assert "test-suite-sql-eval" in metrics["rules"]["reproduces"] and metrics["rules"]["plug_value"] is False
    preds, golds = official_lines(out / "greedy.sql"), official_lines(out / "gold.sql")
    assert len(preds) == len(golds) == 5 and preds[2] == ["SELECT"]  # the empty prediction's placeholder
    assert [g[1] for g in golds] == ["railway"] * 5
    verdicts = [json.loads(line) for line in (out / "greedy.jsonl").read_text().splitlines()]
    assert [v["gold_failure"] for v in verdicts] == [None, None, None, None, "runtime"]


def test_validate_bird_exports_predictions_in_question_order(tmp_path):
    root = make_bird(tmp_path / "bird", new_release=False)
    dev = root / "dev" / "dev.json"
    data = json.loads(dev.read_text())
    data = (data * 6)[:11] + [{**data[0], "SQL": "SELECT nope FROM schools"}]  # 12 questions, the last gold fails
    dev.write_text(json.dumps(data))
    records = [ex.to_dict() for ex in load_split(root, "bird", "dev").examples]
    preds = [r["gold"] for r in records[:10]] + ["", "SELECT County FROM schools WHERE County = 'a   b'"]
    proc, out = run_validate(tmp_path, "bird", records, preds, validate={"ves_runs": 3, "rves_runs": 4})
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((tmp_path / "validate.json").read_text())
    assert metrics["greedy"]["gold_failures"] == 1 and metrics["greedy"]["ex"] == pytest.approx(10 / 12)
    # validate.bird_metrics: Soft-F1 (the empty prediction and the failing gold score 0, the other 10 are 1),
    # VES and R-VES per predictor and difficulty, and the seconds the timed ones took (printed too)
    for name in ("greedy", "majority_vote", "best_of_n_rm", "mcts_best_reward"):
        assert metrics[name]["f1"] == pytest.approx(10 / 12)
        assert {"f1_by_difficulty", "ves", "ves_by_difficulty", "rves", "rves_by_difficulty", "ves_seconds",
                "rves_seconds"} <= set(metrics[name])
        assert metrics[name]["ves"] > 0 and 0 < metrics[name]["rves"] <= 100 * 1.25 ** 0.5
    assert metrics["timed_runs"] == 5 * 10 * (3 + 4)  # predictors x right predictions x runs
    assert "greedy rves seconds (timed metric)" in proc.stdout + proc.stderr
    greedy = [json.loads(line) for line in (out / "greedy.jsonl").read_text().splitlines()]
    assert [v["rves_reward"] > 0 for v in greedy] == [True] * 10 + [False] * 2
    # the mini-dev scripts' --diff_json_path, read line by line with json.loads
    assert [json.loads(line)["difficulty"] for line in (out / "gold_difficulty.jsonl").read_text().splitlines()] \
        == [r["difficulty"] for r in records]
    exported = json.loads((out / "greedy_bird.json").read_text())
    assert list(exported) == [str(i) for i in range(12)]  # not "0", "1", "10", "11", "2", ...
    sqls = [value.split("\t----- bird -----\t")[0] for value in exported.values()]
    assert sqls == preds  # whitespace inside literals kept
    assert [line[1] for line in official_lines(out / "gold.sql")] == ["california_schools"] * 12


def test_validate_empty_dev_is_one_line_error(tmp_path):
    proc, out = run_validate(tmp_path, "spider", [], [])
    assert proc.returncode == 2 and "dev.jsonl: no dev questions" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists() and not (tmp_path / "validate.json").exists()


def test_validate_writes_each_questions_verdicts_intervals_and_flips_against_greedy(tmp_path):
    """The verdict file holds every question's EX and EM per predictor; each EX carries its Wilson interval;
    vs_greedy counts the questions MCTS fixed and broke against greedy, with McNemar's p."""
    from sqlforge.scoring.verdicts import read_verdicts

    root = make_spider_keywords(tmp_path / "spider")
    dev = load_split(root, "spider", "dev")
    records = [ex.to_dict() for ex in dev.examples]
    greedy = [p for _, _, p in RAILWAY_DEV]  # right, right, empty, right, failing gold
    mcts = [gold for _, gold, _ in RAILWAY_DEV[:4]] + ["SELECT 1"]  # fixes the empty one, breaks nothing
    proc, _ = run_validate(tmp_path, "spider", records, greedy, dev.tables, mcts_preds=mcts)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((tmp_path / "validate.json").read_text())
    verdicts = read_verdicts(tmp_path / "verdicts.tsv")
    assert verdicts.ids == [r["id"] for r in records] and verdicts.db_ids == ["railway"] * 5
    assert verdicts.predictors == ["greedy", "majority_vote", "best_of_n_rm", "best_of_n_rm_logprob", "mcts_best_reward"]
    assert verdicts.columns["greedy"]["ex"] == [1, 1, 0, 1, 0]
    assert verdicts.columns["mcts_best_reward"]["ex"] == [1, 1, 1, 1, 0]
    for name in verdicts.predictors:  # the file and the metrics agree, EM included
        for kind in ("ex", "em"):
            assert sum(verdicts.columns[name][kind]) / 5 == pytest.approx(metrics[name][kind])
    # Wilson 95% for 3 of 5, by hand: center (0.6 + z^2/10) / (1 + z^2/5), half-width 0.3258
    assert (metrics["greedy"]["ex_low"], metrics["greedy"]["ex_high"]) == pytest.approx((0.2307, 0.8824), abs=1e-4)
    assert metrics["greedy"]["em_low"] <= metrics["greedy"]["em"] <= metrics["greedy"]["em_high"]
    assert metrics["oracle_pass_at_n"]["ex_low"] <= metrics["oracle_pass_at_n"]["ex"]
    flips = metrics["vs_greedy"]["mcts_best_reward"]
    assert (flips["fixed"], flips["broken"], flips["mcnemar_p"], flips["n"]) == (1, 0, 1.0, 5)
    assert flips["diff"] == pytest.approx(0.2) and flips["diff_low"] == 0.0 and flips["diff_high"] > 0
    assert metrics["vs_greedy"]["majority_vote"]["fixed"] == metrics["vs_greedy"]["majority_vote"]["broken"] == 0


def test_validate_scores_the_rl_policys_greedy_sql_as_greedy_rl_on_the_same_questions(tmp_path):
    """With the rl stage's predictions, greedy_rl is a predictor like greedy (EX, EM, intervals, its column in
    the verdict file, flips against greedy); with none (rl.method none) there is no greedy_rl at all."""
    from sqlforge.scoring.verdicts import read_verdicts

    root = make_spider_keywords(tmp_path / "spider")
    dev = load_split(root, "spider", "dev")
    records = [ex.to_dict() for ex in dev.examples]
    greedy = [p for _, _, p in RAILWAY_DEV]  # right, right, empty, right, failing gold
    rl = [gold for _, gold, _ in RAILWAY_DEV[:2]] + [RAILWAY_DEV[2][1], "SELECT 1", "SELECT 1"]  # fixes 1, breaks 1
    (tmp_path / "rl").mkdir()
    proc, out = run_validate(tmp_path / "rl", "spider", records, greedy, dev.tables, rl_preds=rl)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((tmp_path / "rl" / "validate.json").read_text())
    assert metrics["greedy_rl"]["n"] == 5 and metrics["greedy_rl"]["ex"] == pytest.approx(3 / 5)
    assert {"em", "ex_low", "ex_high", "ex_by_difficulty"} <= set(metrics["greedy_rl"])
    assert (metrics["vs_greedy"]["greedy_rl"]["fixed"], metrics["vs_greedy"]["greedy_rl"]["broken"]) == (1, 1)
    assert read_verdicts(tmp_path / "rl" / "verdicts.tsv").columns["greedy_rl"]["ex"] == [1, 1, 1, 0, 0]
    assert [line[0] for line in official_lines(out / "greedy_rl.sql")] == rl  # the official format too

    (tmp_path / "none").mkdir()
    proc, _ = run_validate(tmp_path / "none", "spider", records, greedy, dev.tables)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "greedy_rl" not in json.loads((tmp_path / "none" / "validate.json").read_text())
