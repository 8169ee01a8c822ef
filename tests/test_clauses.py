"""Clause segmentation by real tokenization (PSG cut points, MCTS actions)."""

from sqlforge.clauses import next_clause, prefixes, split_clauses


def test_subquery_stays_in_one_clause():
    sql = "SELECT name FROM t WHERE id IN (SELECT tid FROM u WHERE x > 1) ORDER BY name LIMIT 2"
    assert split_clauses(sql) == ["SELECT name", "FROM t", "WHERE id IN (SELECT tid FROM u WHERE x > 1)",
                                  "ORDER BY name", "LIMIT 2"]


def test_keywords_inside_strings_do_not_cut():
    sql = "SELECT a FROM t WHERE b = 'from where group by'"
    assert split_clauses(sql) == ["SELECT a", "FROM t", "WHERE b = 'from where group by'"]


def test_set_operation_keeps_select_with_operator_and_is_case_insensitive():
    sql = "select a from t except select a from u"
    assert split_clauses(sql) == ["select a", "from t", "except select a", "from u"]


def test_prefixes_never_empty_and_never_full():
    sql = "SELECT c, COUNT(*) FROM t GROUP BY c HAVING COUNT(*) > 2"
    cuts = prefixes(sql)
    assert cuts == ["SELECT c, COUNT(*)", "SELECT c, COUNT(*) FROM t", "SELECT c, COUNT(*) FROM t GROUP BY c"]
    assert all(c and c != sql for c in cuts)


def test_next_clause():
    assert next_clause("", "SELECT a FROM t") == ("SELECT a", False)
    assert next_clause("SELECT a", " FROM t WHERE x = 1") == ("FROM t", False)
    assert next_clause("SELECT a FROM t", " WHERE x = 'a from b'") == ("WHERE x = 'a from b'", True)
    assert next_clause("SELECT a FROM t", "") == ("", True)
