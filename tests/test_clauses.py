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


# Gold SQL as Spider and BIRD write it: BIRD quotes column names with backticks (names holding spaces,
# apostrophes, parentheses or keywords); Spider writes string values in double quotes; SQLite also accepts
# [bracketed] names. A quoted name or a string is one token: no keyword, quote or space inside it cuts.
QUOTED = [  # (gold SQL, its clauses under nested cutting)
    ("SELECT T1.`from` FROM t AS T1 WHERE T1.`where` = 1",  # a keyword quoted with backticks
     ["SELECT T1.`from`", "FROM t AS T1", "WHERE T1.`where` = 1"]),
    ("SELECT `Women's Team` FROM t WHERE x = 1",  # an apostrophe inside backticks
     ["SELECT `Women's Team`", "FROM t", "WHERE x = 1"]),
    ("SELECT T1.`Free Meal Count (K-12)` / T1.`Enrollment (K-12)` FROM frpm AS T1 WHERE T1.`County Name` = 'Alameda'"
     " ORDER BY T1.`Group By` DESC LIMIT 1",  # BIRD-style: spaces and parentheses, a quoted 'Group By'
     ["SELECT T1.`Free Meal Count (K-12)` / T1.`Enrollment (K-12)`", "FROM frpm AS T1",
      "WHERE T1.`County Name` = 'Alameda'", "ORDER BY T1.`Group By` DESC", "LIMIT 1"]),
    ('SELECT name FROM singer WHERE country = "Women\'s Union" UNION SELECT name FROM "order by" WHERE "select" > 1',
     ['SELECT name', 'FROM singer', 'WHERE country = "Women\'s Union"', 'UNION', 'SELECT name', 'FROM "order by"',
      'WHERE "select" > 1']),  # Spider-style double-quoted value with an apostrophe; a double-quoted name
    ("SELECT [group by], [a b] FROM [from] WHERE [limit] = 'it''s' GROUP BY [group by]",
     ["SELECT [group by], [a b]", "FROM [from]", "WHERE [limit] = 'it''s'", "GROUP BY [group by]"]),
    ("SELECT `a``from` FROM t WHERE \"x\"\"where\" = 1",  # doubled quotes inside quoted names
     ["SELECT `a``from`", "FROM t", "WHERE \"x\"\"where\" = 1"]),
    ("SELECT count(*) FROM `frpm` WHERE `School Code` IN (SELECT `CDSCode` FROM `schools` WHERE `City` = 'Fresno')",
     ["SELECT count(*)", "FROM `frpm`", "WHERE `School Code` IN (", "SELECT `CDSCode`", "FROM `schools`",
      "WHERE `City` = 'Fresno')"]),
]


def test_quoted_identifiers_and_strings_never_cut_in_spider_and_bird_gold():
    for sql, clauses in QUOTED:
        assert split_clauses(sql) == clauses, sql


def test_psg_prefixes_of_quoted_gold_end_before_a_clause_keyword_outside_quotes():
    for sql, clauses in QUOTED:
        starts, pos = [], 0
        for clause in clauses:  # where each clause begins in the original text (spacing kept)
            pos = sql.index(clause, pos)
            starts.append(pos)
        assert prefixes(sql) == [sql[:i].rstrip() for i in starts[1:]], sql
    # top_level: the subquery of the last one stays in its WHERE clause
    sql = QUOTED[-1][0]
    assert prefixes(sql, TOP_LEVEL) == ["SELECT count(*)", "SELECT count(*) FROM `frpm`"]


def test_mcts_actions_on_quoted_gold_are_whole_clauses():
    """An action is never cut inside a quoted name (`SELECT T1.` + '`from`' would be two broken actions)."""
    assert next_clause("", "SELECT T1.`from` FROM t AS T1") == ("SELECT T1.`from`", False)
    assert next_clause("SELECT `Women's Team`", " FROM t WHERE x = 1") == ("FROM t", False)
    assert next_clause("SELECT [a b] FROM t", " WHERE [order by] = 1") == ("WHERE [order by] = 1", True)
