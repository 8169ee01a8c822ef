"""PSG: where gold SQL is cut, which examples are hard, and the hard mode through the preprocess stage."""

import json
import random

import pytest

from real_formats import make_spider
from sqlforge.clauses import prefixes
from sqlforge.data.psg import (EXEC_ERROR, MANY_TABLES, NO_TABLES, WRONG, hard_reasons, plain_kept, psg_prefixes,
                               tables_touched)
from test_real_datasets import read_jsonl, run_stages
from conftest import make_executor


def test_cuts_are_clause_boundaries_case_insensitive_never_at_zero():
    sql = "select name from singer where country = 'from where' group by name having count(*) > 1"
    assert prefixes(sql) == ["select name", "select name from singer", "select name from singer where country = 'from where'",
                             "select name from singer where country = 'from where' group by name"]
    for mode in ("random", "all_prefixes"):
        rng = random.Random(0)
        for _ in range(20):
            for prefix in psg_prefixes(sql, mode, 1.0, rng):
                assert prefix and sql.startswith(prefix) and len(prefix) < len(sql)


def test_modes_and_ratio():
    sql = "SELECT a FROM t WHERE b = 1 ORDER BY a"
    assert psg_prefixes(sql, "none", 1.0, random.Random(0)) == []
    assert psg_prefixes(sql, "all_prefixes", 1.0, random.Random(0)) == prefixes(sql)
    assert psg_prefixes(sql, "hard", 1.0, random.Random(0), hard=False) == []
    assert len(psg_prefixes(sql, "hard", 0.0, random.Random(0), hard=True)) == 1  # every hard example is cut
    rng = random.Random(1)
    picked = sum(bool(psg_prefixes(sql, "random", 0.3, rng)) for _ in range(2000))
    assert 0.26 < picked / 2000 < 0.34
    assert psg_prefixes("SELECT 1", "all_prefixes", 1.0, random.Random(0)) == []  # one clause: nothing to cut


def test_tables_touched_counts_subqueries_not_ctes():
    assert tables_touched("SELECT a FROM t") == 1
    assert tables_touched("SELECT T1.a FROM t AS T1 JOIN u AS T2 ON T1.id = T2.id WHERE T1.x IN (SELECT x FROM v)") == 3
    assert tables_touched("WITH c AS (SELECT * FROM t) SELECT * FROM c JOIN T ON 1") == 1
    assert tables_touched("SELECT FROM WHERE (") == 0


def test_hard_reasons(tmp_path):
    spider = make_spider(tmp_path / "spider")
    db = str(spider / "database" / "concert_singer" / "concert_singer.sqlite")
    join3 = ("SELECT T1.name FROM singer AS T1 JOIN singer_in_concert AS T2 ON T1.singer_id = T2.singer_id "
             "JOIN concert AS T3 ON T2.concert_id = T3.concert_id WHERE T3.year = 2014")
    records = [{"db_path": db, "gold": "SELECT count(*) FROM singer"}] * 4 + [{"db_path": db, "gold": join3}] * 2
    predictions = ["SELECT count(*) FROM singer",  # right
                   "SELECT count(*) FROM concert WHERE year = 2015",  # runs, other rows
                   "SELECT count(*) FROM singers",  # fails
                   "SELECT 3",  # runs, right (3 singers), reads no table
                   join3,  # right, but the gold joins three tables
                   "SELECT name FROM singer"]  # wrong
    with make_executor(timeout_s=5) as executor:
        # extended rule (sqlforge's earlier one): wrong results and the gold's tables count too
        reasons = hard_reasons(records, predictions, executor, "spider", min_tables=3, rule="extended")
        assert reasons == ["", WRONG, EXEC_ERROR, "", MANY_TABLES, WRONG]
        assert hard_reasons(records[4:5], predictions[4:5], executor, "spider", min_tables=4, rule="extended") == [""]
        # original rule (SQL-o1): the prediction fails, or reads min_tables+ tables, or none (its table count's
        # else branch, preprocess_data.py: 0 tables is "hard = 3" as 3+ are), whether right or not
        assert hard_reasons(records, predictions, executor, "spider", min_tables=3) == [
            "", "", EXEC_ERROR, NO_TABLES, MANY_TABLES, ""]
        assert hard_reasons(records[3:4], predictions[3:4], executor, "spider", min_tables=1) == [NO_TABLES]


def test_hard_examples_are_added_beside_the_plain_set_by_default():
    """SQL-o1's --PSG pass writes only the cut hard examples, to a file of their own: used with the plain file,
    each hard question is there plain and cut (hard_mix add). random keeps data_process.py's replacement."""
    assert plain_kept("hard", False, "add") and not plain_kept("hard", True, "replace")
    assert not plain_kept("random", False, "add") and plain_kept("random", True, "replace")
    assert plain_kept("all_prefixes", True, "replace") and not plain_kept("all_prefixes", False, "add")


@pytest.mark.slow
def test_hard_mode_runs_the_base_model_through_the_engine(tmp_path):
    spider = make_spider(tmp_path / "src" / "spider")
    proc, paths = run_stages(tmp_path, {"dataset": "spider", "source": str(spider)},
                             preprocess={"psg": {"mode": "hard", "min_tables": 3}})
    assert proc.returncode == 0, proc.stderr[-3000:]
    prep = json.loads((tmp_path / "preprocess.json").read_text())
    reasons = prep["psg_hard_by_reason"]
    train = {r["id"]: r for r in read_jsonl(paths["prepared"] / "train.jsonl")}
    # an untrained base model gets nothing right, so every train example with a cut point is hard
    assert sum(reasons.values()) == len(train) and set(reasons) <= {WRONG, EXEC_ERROR, MANY_TABLES, NO_TABLES}
    sft = read_jsonl(paths["prepared"] / "sft.jsonl")
    psg = [s for s in sft if s["psg_prefix"]]
    assert prep["psg_examples"] == len(psg) == sum(bool(prefixes(r["gold"])) for r in train.values())
    # hard_mix add (default): every question keeps its plain example beside its cut one
    assert sorted(s["id"] for s in sft if not s["psg_prefix"] and not s["revision_of"]) == sorted(train)
    for s in psg:
        gold = train[s["id"]]["gold"]
        assert s["psg_prefix"] in prefixes(gold)
        assert s["completion"][0]["content"] == gold  # the target is the full gold SQL
        assert f"Incomplete SQL: {s['psg_prefix']}" in s["prompt"][-1]["content"]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["none", "all_prefixes"])
def test_other_modes_through_the_stage(tmp_path, mode):
    spider = make_spider(tmp_path / "src" / "spider")
    proc, paths = run_stages(tmp_path, {"dataset": "spider", "source": str(spider)},
                             preprocess={"psg": {"mode": mode, "ratio": 1.0}})
    assert proc.returncode == 0, proc.stderr[-3000:]
    train = read_jsonl(paths["prepared"] / "train.jsonl")
    sft = read_jsonl(paths["prepared"] / "sft.jsonl")
    expected = 0 if mode == "none" else sum(len(prefixes(r["gold"])) for r in train)
    # keep_plain false (SQL-o1): a question with cuts gets only its cut examples
    plain = len(train) if mode == "none" else sum(not prefixes(r["gold"]) for r in train)
    assert sum(1 for s in sft if s["psg_prefix"]) == expected and len(sft) == plain + expected
