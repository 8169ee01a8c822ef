"""Synthetic revision examples: small wrong edits of the gold, real execution feedback, gold as the target."""

import random

import pytest
import sqlglot

from sqlforge.official.judge import bird_result_eq
from sqlforge.data.revision import (_change_number, _drop_clause, _flip_comparison, _flip_order, _other_column,
                                    _other_set_operator, _swap_aggregate, mutate, revision_examples)
from conftest import make_executor


@pytest.mark.parametrize("mutation,sql,expected", [
    (_flip_comparison, "SELECT a FROM t WHERE b > 3", "SELECT a FROM t WHERE b < 3"),
    (_flip_comparison, "SELECT a FROM t WHERE c = 'x'", "SELECT a FROM t WHERE c <> 'x'"),
    (_swap_aggregate, "SELECT MAX(a) FROM t", "SELECT MIN(a) FROM t"),
    (_other_set_operator, "SELECT a FROM t INTERSECT SELECT a FROM u",
     ("SELECT a FROM t UNION SELECT a FROM u", "SELECT a FROM t EXCEPT SELECT a FROM u")),
    (_flip_order, "SELECT a FROM t ORDER BY b DESC LIMIT 1", "SELECT a FROM t ORDER BY b ASC LIMIT 1"),
    (_drop_clause, "SELECT a FROM t GROUP BY a HAVING COUNT(*) > 1",
     ("SELECT a FROM t", "SELECT a FROM t GROUP BY a")),  # GROUP BY goes with its HAVING
    (_other_column, "SELECT a FROM t", "SELECT z FROM t"),
])
def test_each_edit(mutation, sql, expected):
    tree = sqlglot.parse_one(sql, read="sqlite")
    holder = sqlglot.exp.Subquery(this=tree)
    assert mutation(tree, random.Random(0), ["a", "z"])
    edited = holder.this.sql(dialect="sqlite")
    assert edited in ((expected,) if isinstance(expected, str) else expected)


def test_number_edit_changes_the_value_but_not_limits():
    tree = sqlglot.parse_one("SELECT a FROM t WHERE b > 40 LIMIT 3", read="sqlite")
    assert _change_number(tree, random.Random(0), [])
    edited = tree.sql(dialect="sqlite")
    assert "b > 40" not in edited and edited.endswith("LIMIT 3")


def test_mutate_returns_a_different_query_or_none():
    rng = random.Random(0)
    for sql in ["SELECT name FROM t WHERE age BETWEEN 3 AND 9", "SELECT COUNT(*) FROM t WHERE x = 'a'"]:
        edited = mutate(sql, rng, ["name", "age", "x"])
        assert edited and edited != sql and sqlglot.parse_one(edited, read="sqlite")
    assert mutate("SELECT COUNT(*) FROM t", rng, []) is None  # nothing to edit
    assert mutate("SELEC nonsense (", rng, []) is None


def test_revision_examples_are_wrong_queries_with_feedback(demo_records, demo_dir):
    from sqlforge.data.datasets import load_spider

    records = demo_records["train"][:120]
    tables = load_spider(demo_dir, "train").tables
    with make_executor(timeout_s=5) as executor:
        examples = revision_examples(records, tables, executor, 0.5, random.Random(0))
        again = revision_examples(records, tables, executor, 0.5, random.Random(0))
        assert examples == again  # seeded
        assert 30 <= len(examples) <= 60
        by_id = {r["id"]: r for r in records}
        for ex in examples:
            rec = by_id[ex["id"]]
            assert ex["completion"][0]["content"] == rec["gold"]
            user = ex["prompt"][-1]["content"]
            assert f"Wrong SQL: {ex['revision_of']}" in user and "Execution feedback:" in user
            gold, wrong = executor.execute(rec["db_path"], rec["gold"]), executor.execute(rec["db_path"], ex["revision_of"])
            assert not (wrong.ok and bird_result_eq(gold.rows, wrong.rows))  # really wrong


def test_unparseable_gold_is_skipped(demo_records, demo_dir):
    from sqlforge.data.datasets import load_spider

    record = {**demo_records["train"][0], "gold": "SELECT name FROM author WHERE name REGEXP_MYSTERY ("}
    with make_executor(timeout_s=5) as executor:
        assert revision_examples([record], load_spider(demo_dir, "train").tables, executor, 1.0,
                                 random.Random(0)) == []
