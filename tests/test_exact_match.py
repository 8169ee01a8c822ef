"""Exact-set-match: clause components as sets, values ignored."""

import pytest

from sqlforge.exact_match import exact_match


@pytest.mark.parametrize("gold,pred,expected", [
    ("SELECT name FROM t WHERE age > 30", "SELECT name FROM t WHERE age > 45", True),  # values ignored
    ("SELECT name, age FROM t", "SELECT age, name FROM t", True),  # select is a set
    ("SELECT a FROM t WHERE x = 1 AND y = 2", "SELECT a FROM t WHERE y = 2 AND x = 1", True),
    ("SELECT a FROM t WHERE x = 1 AND y = 2", "SELECT a FROM t WHERE x = 1 OR y = 2", False),
    ("SELECT T1.a FROM t AS T1 JOIN u AS T2 ON T1.id = T2.tid", "SELECT t.a FROM t JOIN u ON t.id = u.tid", True),
    ("SELECT a FROM t ORDER BY b DESC LIMIT 1", "SELECT a FROM t ORDER BY b LIMIT 1", False),
    ("SELECT a FROM t ORDER BY b DESC LIMIT 1", "SELECT a FROM t ORDER BY b DESC LIMIT 5", True),
    ("SELECT a FROM t ORDER BY b DESC LIMIT 1", "SELECT a FROM t ORDER BY b DESC", False),
    ("SELECT DISTINCT a FROM t", "SELECT a FROM t", False),
    ("SELECT count(*) FROM t GROUP BY a HAVING count(*) > 2", "SELECT count(*) FROM t GROUP BY a HAVING count(*) > 9", True),
    ("SELECT count(*) FROM t GROUP BY a", "SELECT count(*) FROM t GROUP BY b", False),
    ("SELECT a FROM t WHERE b IN (SELECT b FROM u WHERE c = 1)", "SELECT a FROM t WHERE b IN (SELECT b FROM u WHERE c = 7)", True),
    ("SELECT a FROM t WHERE b IN (SELECT b FROM u WHERE c = 1)", "SELECT a FROM t WHERE b IN (SELECT b FROM v WHERE c = 1)", False),
    ("SELECT a FROM t UNION SELECT a FROM u", "SELECT a FROM t UNION SELECT a FROM u", True),
    ("SELECT a FROM t UNION SELECT a FROM u", "SELECT a FROM t EXCEPT SELECT a FROM u", False),
    ("SELECT a FROM t WHERE name = 'x'", "SELECT a FROM t WHERE name LIKE 'x'", False),
    ("SELECT a FROM t", "SELEC a FRM t", False),  # unparsable prediction
])
def test_exact_set_match(gold, pred, expected):
    assert exact_match(gold, pred) is expected
