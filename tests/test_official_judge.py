"""Execution-accuracy rules, pinned on real SQLite results."""

import sqlite3

import pytest

from sqlforge.official.judge import bird_result_eq, has_order_by, results_match
from sqlforge.official.result_compare import spider_result_eq
from conftest import make_executor


def test_spider_multiset_counts_duplicates():
    assert not spider_result_eq([(1,), (1,), (2,)], [(1,), (2,), (2,)], order_matters=False)
    assert spider_result_eq([(1,), (1,), (2,)], [(2,), (1,), (1,)], order_matters=False)


def test_spider_order_only_with_order_by():
    assert spider_result_eq([(1,), (2,)], [(2,), (1,)], order_matters=False)
    assert not spider_result_eq([(1,), (2,)], [(2,), (1,)], order_matters=True)
    assert has_order_by("SELECT a FROM t ORDER BY a") and not has_order_by("SELECT a FROM t")
    assert not results_match("spider", "SELECT a FROM t ORDER BY a", [(1,), (2,)], [(2,), (1,)])


def test_spider_column_permutation_allowed_bird_not():
    gold, pred = [(1, "a"), (2, "b")], [("a", 1), ("b", 2)]
    assert spider_result_eq(gold, pred, order_matters=False)
    assert not bird_result_eq(gold, pred)
    # a permutation must map whole rows, not columns independently
    assert not spider_result_eq([(1, "a"), (2, "b")], [("b", 1), ("a", 2)], order_matters=False)


def test_empty_results_and_shape_mismatch():
    assert spider_result_eq([], [], order_matters=False)
    assert not spider_result_eq([(1,)], [], order_matters=False)
    assert not spider_result_eq([(1,)], [(1, 1)], order_matters=False)


def test_bird_is_set_semantics():
    assert bird_result_eq([(1,), (1,), (2,)], [(2,), (1,)])


def test_int_and_float_compare_equal_as_in_official_code(tmp_path):
    path = tmp_path / "n.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (i INTEGER, r REAL, s TEXT)")
    conn.execute("INSERT INTO t VALUES (1, 1.0, '1'), (NULL, NULL, NULL)")
    conn.commit()
    conn.close()
    ex = make_executor()
    ints = ex.execute(path, "SELECT i FROM t WHERE i IS NOT NULL").rows
    floats = ex.execute(path, "SELECT r FROM t WHERE r IS NOT NULL").rows
    texts = ex.execute(path, "SELECT s FROM t WHERE s IS NOT NULL").rows
    assert results_match("spider", "SELECT i FROM t", ints, floats)
    assert results_match("bird", "SELECT i FROM t", ints, floats)
    assert not results_match("spider", "SELECT i FROM t", ints, texts)
    nulls = ex.execute(path, "SELECT i FROM t WHERE i IS NULL").rows
    assert results_match("spider", "SELECT i FROM t", nulls, [(None,)])
    assert not results_match("spider", "SELECT i FROM t", nulls, ints)


@pytest.mark.parametrize("rules", ["spider", "bird"])
def test_error_or_timeout_is_wrong(tmp_path, rules):
    from sqlforge.official.judge import verdicts

    path = tmp_path / "x.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (a)")
    conn.execute("INSERT INTO t VALUES (1)")
    conn.commit()
    conn.close()
    rec = {"id": "q", "db_path": str(path), "gold": "SELECT a FROM t", "difficulty": "easy"}
    endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT max(x) FROM c"
    out = verdicts([rec, rec, rec], ["SELECT a FROM t", "SELECT nope FROM t", endless], rules, make_executor(timeout_s=0.5))
    assert [v["correct"] for v in out] == [True, False, False]
    assert out[2]["error_kind"] == "timeout"


def make_db(path, rows):
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (a INTEGER, b TEXT)")
    conn.executemany("INSERT INTO t VALUES (?, ?)", rows)
    conn.commit()
    conn.close()
    return path


def test_distinct_removed_unless_keep_distinct(tmp_path):
    from sqlforge.official.judge import spider_exec_sql, verdicts

    db = make_db(tmp_path / "d.sqlite", [(1, "x"), (1, "x"), (2, "y")])
    rec = {"id": "q", "db_path": str(db), "gold": "SELECT DISTINCT a FROM t", "difficulty": "easy"}
    # gold and prediction both lose DISTINCT: [1, 1, 2] == [1, 1, 2]
    assert verdicts([rec], ["SELECT a FROM t"], "spider", make_executor())[0]["correct"]
    assert not verdicts([rec], ["SELECT a FROM t"], "spider", make_executor(), keep_distinct=True)[0]["correct"]
    # the official exec text: DISTINCT dropped as a token, never inside a string or a longer name
    assert spider_exec_sql("SELECT COUNT(DISTINCT a), 'distinct' FROM t_distinct", False, False) == \
        "SELECT COUNT( a), 'distinct' FROM t_distinct"


def test_prediction_must_match_on_every_test_suite_database(tmp_path):
    from sqlforge.official.judge import verdicts

    folder = tmp_path / "shop"
    folder.mkdir()
    db = make_db(folder / "shop.sqlite", [(1, "x"), (2, "y")])
    make_db(folder / "shop_variant.sqlite", [(1, "x"), (2, "y"), (3, "y")])
    rec = {"id": "q", "db_path": str(db), "gold": "SELECT a FROM t WHERE b = 'y'", "difficulty": "easy"}
    # right on the original database by accident, wrong on the distilled variant
    lucky = "SELECT a FROM t WHERE a = 2"
    assert not verdicts([rec], [lucky], "spider", make_executor())[0]["correct"]
    assert verdicts([rec], ["SELECT a FROM t WHERE b = 'y'"], "spider", make_executor())[0]["correct"]
    assert verdicts([rec], [lucky], "bird", make_executor())[0]["correct"]  # BIRD: the one database


def test_order_by_check_is_textual_like_the_official_one(tmp_path):
    db = make_db(tmp_path / "o.sqlite", [(1, "x"), (2, "y")])
    gold = "SELECT a FROM t WHERE a IN (SELECT a FROM t ORDER BY a LIMIT 5)"
    assert has_order_by(gold)
    assert not results_match("spider", gold, [(1,), (2,)], [(2,), (1,)])
    assert results_match("spider", "SELECT a FROM t", [(1,), (2,)], [(2,), (1,)])
    assert results_match("bird", gold, [(1,), (2,)], [(2,), (1,)])
