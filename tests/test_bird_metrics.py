"""BIRD's Soft-F1, VES and R-VES against the official scripts' behaviour.

Official scripts: bird-bench/mini_dev at 4d970a9 (evaluation/evaluation_f1.py: `calculate_f1_score`;
evaluation/evaluation_ves.py: `clean_abnormal`, `iterated_execute_sql`, `compute_ves`) and
AlibabaResearch/DAMO-ConvAI bird/llm/src/evaluation_ves.py at dec31ae (June 2023). Every expected value
below was printed by those functions run on the same input (outside this repository; their code is not
here): Soft-F1 on hand-built results and, through their own `execute_sql`, on the BIRD-format databases of
tests/bird_fixture.py; the time ratio and the R-VES reward by their `execute_model` fed the same time
measurements (their `execute_sql` replaced by one returning the listed seconds)."""

from __future__ import annotations

import json
import math
import sqlite3
import statistics

import pytest

from bird_fixture import CASES, SLOW_COUNT, make_bird_metrics_set
from conftest import make_executor, repo_params, write_params
from real_formats import BIRD_MINI_DEV, add_mini_dev, make_bird
from sqlforge.commands import main
from sqlforge.data.datasets import load_split
from sqlforge.io import InputError
from sqlforge.official.bird_metrics import (drop_outliers, rves, rves_reward, soft_f1, time_ratio, timing_rules,
                                            ves)
from sqlforge.official.judge import verdicts

# name: (predicted rows, gold rows, the official calculate_f1_score)
F1_CASES = {
    "equal": ([(1, "a"), (2, "b")], [(1, "a"), (2, "b")], 1.0),
    "both empty": ([], [], 1.0),  # its first check: `if not predicted and not ground_truth: return 1.0`
    "prediction empty": ([], [(1,), (2,)], 0),  # every gold row counted only on the gold side
    "gold empty": ([(1,)], [], 0),
    "duplicate prediction rows": ([(1,), (1,), (2,)], [(1,), (2,)], 1.0),  # dict.fromkeys: first kept, in order
    "duplicate gold rows": ([(1,), (2,)], [(1,), (1,), (2,), (2,)], 1.0),
    "rows in another order": ([(2, "b"), (1, "a")], [(1, "a"), (2, "b")], 0),  # paired by position
    "three rows rotated": ([(3,), (1,), (2,)], [(1,), (2,), (3,)], 0),
    "more prediction rows": ([(1, "a"), (2, "b"), (3, "c")], [(1, "a")], 0.5),
    "more gold rows": ([(1, "a")], [(1, "a"), (2, "b"), (3, "c")], 0.5),
    "one cell wrong per row": ([(1, 2), (3, 9), (5, 6)], [(1, 2), (3, 4), (5, 7)], 0.6666666666666666),
    "NULLs": ([(None, 1), (None, None)], [(None, 1), (2, None)], 0.888888888888889),  # None in (None, 1)
    "NULL against 0": ([(None,)], [(0,)], 0),
    "int against float": ([(1, 2.0)], [(1.0, 2)], 1.0),  # `in` compares with ==
    "int against text": ([(1,)], [("1",)], 0),
    "1, 1.0 and True are one row": ([(1,), (1.0,), (True,)], [(1,)], 1.0),  # equal hashes: deduplicated
    "extra column": ([(1, "a", 9)], [(1, "a")], 0.8),  # cells over the gold row's width
    "missing column": ([(1,)], [(1, "a")], 0.6666666666666666),
    "columns swapped": ([("a", 1)], [(1, "a")], 1.0),  # a value counts anywhere in the row
    "a value repeated in the prediction row": ([(1, 1)], [(1, 2)], 0.8),  # each occurrence matches
    "a value repeated in the gold row": ([(1, 2)], [(1, 1)], 0.6666666666666666),
    "disjoint": ([(7, 8)], [(1, 2)], 0),
    "text and blob": ([("x", b"\x00\x01")], [("x", b"\x00\x01")], 1.0),
}


@pytest.mark.parametrize("name", sorted(F1_CASES))
def test_soft_f1_equals_the_official_function(name):
    pred, gold, official = F1_CASES[name]
    assert soft_f1(pred, gold) == official  # equal floats, not approximately


def test_outlier_rule_and_time_ratio_as_the_official():
    # clean_abnormal keeps mean - 3 std < x < mean + 3 std (numpy's population std, strict)
    assert drop_outliers([1.0] * 99 + [100.0], 3) == [1.0] * 99
    # ten values can never lie 3 std from their mean (at most (n - 1) / sqrt(n) = 2.85 std): none dropped
    assert drop_outliers([1.0] * 9 + [1000.0], 3) == [1.0] * 9 + [1000.0]
    # all equal: std 0 keeps nothing; the official then divides by zero and scores the question 0
    assert drop_outliers([2.0] * 10, 3) == []
    assert time_ratio([0.01] * 10, [0.02] * 10, 3) == 0.0
    # a prediction timed at 0 s: ZeroDivisionError in the official, the question scored 0
    assert time_ratio([0.0] + [0.01] * 9, [0.01] * 10, 3) == 0.0
    # one ratio of 100 among 99 of 1 is dropped: official time_ratio 1.0, reward 1
    assert time_ratio([0.01] * 99 + [0.0001], [0.01] * 100, 3) == 1.0
    # the mean of the ratios (not the ratio of the mean times): official 0.0875, reward 0.25
    assert time_ratio([10.0, 20.0], [1.0, 1.5], 3) == 0.0875
    # official 1.999999999 -> reward 1 (just below the 2 boundary); ratios gold/pred per run
    assert time_ratio([0.5, 0.25 * (1 + 1e-9)], [1.0, 0.5], 3) == pytest.approx(1.999999999, abs=1e-15)


@pytest.mark.parametrize("ratio,reward", [(0, 0), (2.0, 1.25), (7.5, 1.25), (1.999999999, 1), (1.0, 1),
                                          (0.9999999995, 0.75), (0.5, 0.75), (0.49999999975, 0.5), (0.25, 0.5),
                                          (0.249999999875, 0.25), (0.0875, 0.25)])
def test_rves_buckets_as_the_official(ratio, reward):
    # official: 0 -> 0; >= 2 -> 1.25; [1, 2) -> 1; [0.5, 1) -> 0.75; [0.25, 0.5) -> 0.5; else 0.25
    assert rves_reward(ratio) == reward


def test_ves_and_rves_scores_as_compute_ves():
    # compute_ves: sum of sqrt(value) * 100 over questions, divided by their count (0 counts)
    assert ves([4.0, 1.0, 0.0, 0.25]) == pytest.approx((200 + 100 + 0 + 50) / 4)
    assert rves([1.25, 1, 0, 0.25]) == pytest.approx((math.sqrt(1.25) * 100 + 100 + 0 + 50) / 4)
    assert ves([]) == rves([]) == 0.0


def test_timing_budget_and_style_as_the_scripts():
    # both wrap the whole measurement in func_timeout(meta_time_out * iterate_num); the original VES times
    # cursor.execute alone, mini-dev's R-VES execute + fetchall + close
    assert timing_rules("ves", 100, 30.0) == timing_rules("ves", 100, 30.0)
    assert (timing_rules("ves", 100, 30.0).budget_s, timing_rules("ves", 100, 30.0).style) == (3000.0, "execute")
    assert (timing_rules("rves", 7, 30.0).budget_s, timing_rules("rves", 7, 30.0).style) == (210.0, "fetch")


# the official evaluation_f1.py and evaluation_ex.py on tests/bird_fixture.py (their execute_sql, the gold's db)
OFFICIAL_F1 = [1.0, 1.0, 1.0, 0, 0.7499999999999999, 0.5217391304347826, 0.5, 1.0, 1.0, 0, 0, 0, 1.0, 1.0]
OFFICIAL_EX = [1, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1]
# their printed tables: Soft-F1 95.00 / 50.00 / 38.04 / 62.66, EX 60.00 / 60.00 / 25.00 / 50.00
# (simple / moderate / challenging / total)


def test_soft_f1_on_real_databases_equals_the_official_script(tmp_path):
    files = make_bird_metrics_set(tmp_path)
    db = str(files["db"] / "shop" / "shop.sqlite")
    records = [{"id": i, "db_path": db, "gold": gold, "difficulty": d} for i, (gold, _, d) in enumerate(CASES)]
    with make_executor(timeout_s=30.0, workers=2) as executor:
        judged = verdicts(records, [pred for _, pred, _ in CASES], "bird", executor)
    assert [v["f1"] for v in judged] == OFFICIAL_F1
    assert [int(v["correct"]) for v in judged] == OFFICIAL_EX


def test_evaluate_metric_all_on_a_bird_format_set(tmp_path, capsys):
    files = make_bird_metrics_set(tmp_path)
    params = write_params(tmp_path / "params.yaml", {"validate": {"ves_runs": 5, "rves_runs": 5}})
    out = tmp_path / "verdicts.jsonl"
    assert main(["evaluate", "--rules", "bird", "--gold", str(files["dev"]), "--pred", str(files["pred"]),
                 "--db", str(files["db"]), "--out", str(out), "--metric", "all", "--params", str(params)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["f1"] for r in rows] == OFFICIAL_F1
    assert [int(r["exec"]) for r in rows] == OFFICIAL_EX
    right = [i for i, ex in enumerate(OFFICIAL_EX) if ex]
    # a right prediction gets a positive ratio and a reward of the buckets; a wrong one 0
    assert all(rows[i]["ves_ratio"] > 0 and rows[i]["rves_reward"] in (0.25, 0.5, 0.75, 1, 1.25) for i in right)
    assert all(r["ves_ratio"] == r["rves_reward"] == 0 for i, r in enumerate(rows) if i not in right)
    printed = capsys.readouterr().out
    for word in ("soft-F1", "VES (x100)", "R-VES (x100)", "0.950", "0.500", "0.380", "0.627",
                 "ves: 5 timed runs per right prediction", "rves: 5 timed runs"):
        assert word in printed, word


def test_evaluate_runs_mini_dev_metrics_on_the_gold_database(tmp_path):
    """The original EX and VES run both queries on the database the prediction names, mini-dev's Soft-F1 and
    R-VES on the gold's: a prediction naming another database is judged on each as its script does."""
    files = make_bird_metrics_set(tmp_path)
    other = files["db"] / "other" / "other.sqlite"
    other.parent.mkdir()
    conn = sqlite3.connect(other)
    conn.executescript("CREATE TABLE item (name TEXT, price REAL); INSERT INTO item VALUES ('zzz', 9.0);")
    conn.close()
    pred = json.loads(files["pred"].read_text())
    pred["0"] = pred["0"].replace("\tshop", "\tother")  # gold and prediction: SELECT name, price FROM item
    files["pred"].write_text(json.dumps(pred))
    params = write_params(tmp_path / "params.yaml", {"validate": {"ves_runs": 2, "rves_runs": 2}})
    out = tmp_path / "verdicts.jsonl"
    assert main(["evaluate", "--rules", "bird", "--gold", str(files["dev"]), "--pred", str(files["pred"]),
                 "--db", str(files["db"]), "--out", str(out), "--metric", "all", "--params", str(params)]) == 0
    first = json.loads(out.read_text().splitlines()[0])
    # on `other` both queries return ('zzz', 9.0): right for the original EX and VES
    assert first["exec"] is True and first["ves_ratio"] > 0
    # on `shop` (the gold's database) the two are the same query: Soft-F1 1, R-VES timed
    assert first["f1"] == 1.0 and first["rves_reward"] > 0


def test_metric_is_bird_only(tmp_path, capsys):
    files = make_bird_metrics_set(tmp_path)
    spider_pred = tmp_path / "pred.sql"
    spider_pred.write_text("".join(f"{p}\n" for _, p, _ in CASES))
    assert main(["evaluate", "--rules", "spider", "--gold", str(files["gold"]), "--pred", str(spider_pred),
                 "--db", str(files["db"]), "--out", str(tmp_path / "v.jsonl"), "--etype", "exec",
                 "--metric", "f1"]) == 2
    assert "BIRD metrics" in capsys.readouterr().err and not (tmp_path / "v.jsonl").exists()


def test_timing_runs_in_sandbox_workers(tmp_path):
    files = make_bird_metrics_set(tmp_path)
    db = str(files["db"] / "shop" / "shop.sqlite")
    with make_executor(timeout_s=30.0, workers=1) as executor:
        fast, slow, write, over = executor.time_pairs([
            (db, "SELECT 1", "SELECT 1", 3, 30.0, "fetch"),
            (db, SLOW_COUNT, "SELECT 1", 5, 30.0, "execute"),
            (db, "DELETE FROM item", "SELECT 1", 3, 30.0, "fetch"),  # the sandbox still refuses writes
            (db, "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT count(*) FROM r",
             "SELECT 1", 3, 0.3, "fetch"),  # past its budget
        ])
        assert executor.timed_runs == 3 + 5 + 0 + 0
    assert fast.ok and len(fast.pred_seconds) == len(fast.gold_seconds) == 3
    # the scan takes milliseconds, `SELECT 1` microseconds: measured in the worker, per run (medians: a run
    # may be preempted on a busy machine)
    assert slow.ok and len(slow.pred_seconds) == 5
    assert statistics.median(slow.pred_seconds) > 5 * statistics.median(slow.gold_seconds)
    assert write.error_kind == "denied"
    assert over.error_kind == "timeout"
    assert sqlite3.connect(db).execute("SELECT count(*) FROM item").fetchone() == (6,)


def test_validate_params_take_the_official_defaults():
    cfg = repo_params().validate
    assert (cfg.ves_runs, cfg.rves_runs, cfg.outlier_sigmas, cfg.timing_workers) == (100, 100, 3.0, 1)
    assert cfg.bird_metrics == ["f1", "ves", "rves"]


def test_mini_dev_loads_over_bird_dev_databases(tmp_path):
    root = make_bird(tmp_path / "bird", new_release=False)
    dev = add_mini_dev(root)
    examples = load_split(root, "bird", "dev", "mini-dev").examples
    assert [(e.gold, e.difficulty, e.question) for e in examples] == [(sql, d, q) for _, _, q, _, sql, d in BIRD_MINI_DEV]
    assert examples[0].db_path == str(dev / "dev_databases" / "california_schools" / "california_schools.sqlite")
    # the gold file is what the official scripts run: it wins over the questions file's SQL
    (dev / "mini_dev_sqlite_gold.sql").write_text((dev / "mini_dev_sqlite_gold.sql").read_text().replace(
        "LIMIT 1", "LIMIT 2"))
    assert load_split(root, "bird", "dev", "mini-dev").examples[0].gold.endswith("LIMIT 2")
    # a gold line naming another database, a missing gold file, a missing questions file: one line each
    (dev / "mini_dev_sqlite_gold.sql").write_text("SELECT 1\tother\n" * 3)
    with pytest.raises(InputError, match="mini_dev_sqlite_gold.sql: line 1 names db_id 'other'"):
        load_split(root, "bird", "dev", "mini-dev")
    (dev / "mini_dev_sqlite_gold.sql").unlink()
    with pytest.raises(InputError, match="mini_dev_sqlite_gold.sql: missing; .*bird-bench/mini_dev"):
        load_split(root, "bird", "dev", "mini-dev")
    (dev / "mini_dev_sqlite.json").unlink()
    with pytest.raises(InputError, match="mini_dev_sqlite.json: missing"):
        load_split(root, "bird", "dev", "mini-dev")
    assert len(load_split(root, "bird", "dev", "dev").examples) == 2  # BIRD dev itself is unchanged
    with pytest.raises(InputError, match="BIRD's dev sets are 'dev' and 'mini-dev'"):
        load_split(root, "bird", "dev", "spider-dk")
