"""The text the official Spider evaluator scores and runs (taoyds/test-suite-sql-eval).

Every expected text below is what the official code produced for the same input
(exec_eval.postprocess, parse.remove_distinct unless keep_distinct, replace_cur_year).
"""

import sqlite3

import pytest

from sqlforge.official.prediction_text import exec_text, official_prediction
from conftest import make_executor

CASES = [
    # rule, sql, keep_distinct, official text
    ('split >= rejoined', 'SELECT a FROM t WHERE a > = 1', False, 'SELECT a FROM t WHERE a >= 1'),
    ('split <= and != rejoined', "SELECT a FROM t WHERE a < = 1 AND b ! = 'x'", False, "SELECT a FROM t WHERE a <= 1 AND b != 'x'"),
    ('two spaces are not rejoined', 'SELECT a FROM t WHERE a >  = 1', False, 'SELECT a FROM t WHERE a >  = 1'),
    ('rejoined inside strings too (plain text replace)', "SELECT a FROM t WHERE b = '> ='", False, "SELECT a FROM t WHERE b = '>='"),
    ('DISTINCT dropped', 'SELECT DISTINCT a FROM t', False, 'SELECT  a FROM t'),
    ('DISTINCT kept with keep_distinct', 'SELECT DISTINCT a FROM t', True, 'SELECT DISTINCT a FROM t'),
    ('count(DISTINCT x) loses DISTINCT', 'SELECT count(DISTINCT a) FROM t', False, 'SELECT count( a) FROM t'),
    ('DISTINCT( glued to a bracket dropped', 'SELECT count(DISTINCT(a)) FROM t', False, 'SELECT count((a)) FROM t'),
    ('DISTINCT in a string kept', "SELECT a FROM t WHERE b = 'distinct'", False, "SELECT a FROM t WHERE b = 'distinct'"),
    ('DISTINCT in a double-quoted name kept', 'SELECT "distinct" FROM t', False, 'SELECT "distinct" FROM t'),
    ('DISTINCT in a bracketed name kept', 'SELECT [distinct] FROM t', False, 'SELECT [distinct] FROM t'),
    ('DISTINCT in a comment kept', 'SELECT a FROM t -- distinct\n', False, 'SELECT a FROM t -- distinct\n'),
    ('a column named distinct after a dot is dropped', 'SELECT t.distinct FROM t', False, 'SELECT t. FROM t'),
    ('part of a longer word kept', 'SELECT distinct_a FROM t', False, 'SELECT distinct_a FROM t'),
    ('only the first statement runs', 'SELECT DISTINCT a FROM t; SELECT b FROM t', False, 'SELECT  a FROM t; '),
    ('with keep_distinct both statements are sent', 'SELECT a FROM t; SELECT b FROM t', True, 'SELECT a FROM t; SELECT b FROM t'),
    ('a ; inside brackets does not split', 'SELECT count(a; b) FROM t', False, 'SELECT count(a; b) FROM t'),
    ('YEAR(CURDATE()) becomes 2020', 'SELECT a FROM t WHERE b = YEAR(CURDATE()) - 1', False, 'SELECT a FROM t WHERE b = 2020- 1'),
    ('YEAR ( CURDATE ( ) ) spaced becomes 2020', 'SELECT a FROM t WHERE b < year ( curdate ( ) )', True, 'SELECT a FROM t WHERE b < 2020'),
]


@pytest.mark.parametrize("rule,sql,keep,expected", CASES, ids=[c[0] for c in CASES])
def test_official_exec_text(rule, sql, keep, expected):
    assert exec_text(sql, keep_distinct=keep) == expected


def test_official_prediction_line():
    # the official CLI strips the line, keeps what precedes a tab, and turns "value" into "1"
    assert official_prediction("  SELECT a FROM t WHERE b = value\tjunk \n") == "SELECT a FROM t WHERE b = 1"
    assert official_prediction("SELECT Value FROM t") == "SELECT Value FROM t"  # lower case only


def test_prepared_prediction_runs_where_the_raw_text_fails(tmp_path):
    # the official exec path runs "> =" as ">=": a prediction SQLite rejects raw is scored on its result
    db = tmp_path / "x.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (a INTEGER)")
        conn.executemany("INSERT INTO t VALUES (?)", [(1,), (2,), (2,)])
    conn.close()
    raw = "SELECT DISTINCT a FROM t WHERE a > = 2"
    with make_executor(timeout_s=5) as executor:
        assert not executor.execute(db, raw).ok
        result = executor.execute(db, exec_text(official_prediction(raw)))
    assert result.ok and result.rows == [(2,), (2,)]  # DISTINCT removed as well
