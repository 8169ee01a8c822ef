"""Clause segmentation by real tokenization (PSG cut points, MCTS actions)."""

from sqlforge.clauses import NESTED, TOP_LEVEL, next_clause, prefixes, split_clauses


def test_top_level_mode_keeps_a_subquery_in_one_clause():
    sql = "SELECT name FROM t WHERE id IN (SELECT tid FROM u WHERE x > 1) ORDER BY name LIMIT 2"
    assert split_clauses(sql, TOP_LEVEL) == ["SELECT name", "FROM t", "WHERE id IN (SELECT tid FROM u WHERE x > 1)",
                                             "ORDER BY name", "LIMIT 2"]


def test_nested_mode_cuts_subquery_clauses_as_sql_o1_does():
    """SQL-o1 (agent.py segment_step) cuts the flattened token stream: subquery keywords are actions too."""
    sql = "SELECT name FROM t WHERE id IN (SELECT tid FROM u WHERE x > 1) ORDER BY name LIMIT 2"
    assert split_clauses(sql) == split_clauses(sql, NESTED) == [
        "SELECT name", "FROM t", "WHERE id IN (", "SELECT tid", "FROM u", "WHERE x > 1)", "ORDER BY name", "LIMIT 2"]
    # a set operator is a clause keyword of its own there, so it is an action apart from its SELECT
    assert split_clauses("SELECT a FROM t UNION ALL SELECT a FROM u") == [
        "SELECT a", "FROM t", "UNION ALL", "SELECT a", "FROM u"]
    assert next_clause("SELECT a FROM t WHERE b IN (", " SELECT c FROM u)") == ("SELECT c", False)


def test_keywords_inside_strings_do_not_cut():
    sql = "SELECT a FROM t WHERE b = 'from where group by'"
    assert split_clauses(sql) == ["SELECT a", "FROM t", "WHERE b = 'from where group by'"]
    assert split_clauses(sql, TOP_LEVEL) == split_clauses(sql)


def test_set_operation_keeps_select_with_operator_and_is_case_insensitive():
    sql = "select a from t except select a from u"
    assert split_clauses(sql, TOP_LEVEL) == ["select a", "from t", "except select a", "from u"]
    assert split_clauses("SELECT a FROM t UNION ALL SELECT a FROM u", TOP_LEVEL) == [
        "SELECT a", "FROM t", "UNION ALL SELECT a", "FROM u"]


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
