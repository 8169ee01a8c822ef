"""Spider exact-set-match, question by question as the official evaluator scores it.

Every expected verdict below was produced by the official script itself
(taoyds/test-suite-sql-eval evaluation.py + process_sql.py, NLTK 3.9) on the databases of
tests/spider_fixture.py; each case names the official rule it pins. The official code is
not needed to run these tests.
"""

import pytest

from spider_fixture import TABLES
from sqlforge.official.exact_match import exact_match
from sqlforge.official.spider_parse import schema_from_entry

M = "music"
R = "rail"
J = "SELECT T1.name FROM singer AS T1 JOIN singer_in_concert AS T2 ON T1.singer_id = T2.singer_id"

CASES = [
    # rule, db, gold, pred, official verdict
    ("values are ignored (numbers)", M, "SELECT name FROM singer WHERE age > 30", "SELECT name FROM singer WHERE age > 45", True),
    ("values are ignored (strings)", M, "SELECT name FROM singer WHERE country = 'France'", "SELECT name FROM singer WHERE country = 'USA'", True),
    ("double-quoted strings are values", M, 'SELECT name FROM singer WHERE country = "USA"', "SELECT name FROM singer WHERE country = 'USA'", True),
    ("double-quoted strings are values, even a column name", M, 'SELECT name FROM singer WHERE country = "name"', "SELECT name FROM singer WHERE country = 'x'", True),
    ("a double-quoted name in SELECT is a value: unreadable", M, "SELECT name FROM singer", 'SELECT "name" FROM singer', False),
    ("a quote inside a string breaks the official tokeniser", M, "SELECT name FROM singer WHERE country = 'x'", 'SELECT name FROM singer WHERE country = "O\'Neil"', False),
    ("value compared with a column is a value too", M, "SELECT name FROM singer WHERE age > 3", "SELECT name FROM singer WHERE age > singer_id", True),
    ("SELECT is a multiset", M, "SELECT name, age FROM singer", "SELECT age, name FROM singer", True),
    ("SELECT multiset counts repeats", M, "SELECT name, name FROM singer", "SELECT name FROM singer", False),
    ("SELECT DISTINCT ignored", M, "SELECT DISTINCT country FROM singer", "SELECT country FROM singer", True),
    ("count(DISTINCT x) equals count(x)", M, "SELECT count(DISTINCT country) FROM singer", "SELECT count(country) FROM singer", True),
    ("count(*) differs from count(col)", M, "SELECT count(*) FROM singer", "SELECT count(name) FROM singer", False),
    ("aggregate differs", M, "SELECT max(age) FROM singer", "SELECT min(age) FROM singer", False),
    ("DISTINCT ignored in WHERE column", M, "SELECT name FROM singer WHERE age > 3", "SELECT name FROM singer WHERE DISTINCT age > 3", True),
    ("DISTINCT kept inside a WHERE subquery", M, "SELECT name FROM singer WHERE singer_id IN (SELECT singer_id FROM singer_in_concert)",
     "SELECT name FROM singer WHERE singer_id IN (SELECT DISTINCT singer_id FROM singer_in_concert)", False),
    ("DISTINCT ignored in a set-operation part", M, "SELECT name FROM singer UNION SELECT name FROM stadium",
     "SELECT name FROM singer UNION SELECT DISTINCT name FROM stadium", True),
    ("top-level JOIN ON sides swapped are not compared", M, J, "SELECT T1.name FROM singer AS T1 JOIN singer_in_concert AS T2 ON T2.singer_id = T1.singer_id", True),
    ("top-level JOIN ON columns are not compared", M, J, "SELECT T1.name FROM singer AS T1 JOIN singer_in_concert AS T2 ON T1.age = T2.concert_id", True),
    ("a column on the right of a condition swallows tokens up to AND or a clause word: this OR is not seen", M, J, J + " OR T1.age = T2.concert_id", True),
    ("top-level JOIN ON still counts an OR keyword", M, J, "SELECT T1.name FROM singer AS T1 JOIN singer_in_concert AS T2 ON T1.singer_id = 1 OR T1.age = 2", False),
    ("FROM tables compared as a multiset (order free)", M, J, "SELECT T2.name FROM singer_in_concert AS T1 JOIN singer AS T2 ON T1.singer_id = T2.singer_id", True),
    ("FROM tables must agree", M, J, "SELECT T1.name FROM singer AS T1 JOIN concert AS T2 ON T1.singer_id = T2.concert_id", False),
    ("extra joined table fails", M, "SELECT name FROM singer", "SELECT T1.name FROM singer AS T1 JOIN singer_in_concert AS T2 ON T1.singer_id = T2.singer_id", False),
    ("aliases resolve to table.column", M, J, "SELECT singer.name FROM singer JOIN singer_in_concert ON singer.singer_id = singer_in_concert.singer_id", True),
    ("alias names do not matter", M, J, "SELECT a.name FROM singer AS a JOIN singer_in_concert AS b ON a.singer_id = b.singer_id", True),
    ("a column under another table is another column", M, "SELECT T1.name FROM singer AS T1 JOIN stadium AS T2 ON T1.singer_id = T2.stadium_id",
     "SELECT T2.name FROM singer AS T1 JOIN stadium AS T2 ON T1.singer_id = T2.stadium_id", False),
    ("a bare column takes the first FROM table that has it", M, "SELECT T1.name FROM singer AS T1 JOIN stadium AS T2 ON T1.singer_id = T2.stadium_id",
     "SELECT name FROM singer AS T1 JOIN stadium AS T2 ON T1.singer_id = T2.stadium_id", True),
    ("a bare column, other FROM order: the other table", M, "SELECT T1.name FROM singer AS T1 JOIN stadium AS T2 ON T1.singer_id = T2.stadium_id",
     "SELECT name FROM stadium AS T2 JOIN singer AS T1 ON T1.singer_id = T2.stadium_id", False),
    ("foreign key column maps to the referenced column", M, "SELECT T1.singer_id FROM singer AS T1 JOIN singer_in_concert AS T2 ON T1.singer_id = T2.singer_id",
     "SELECT T2.singer_id FROM singer AS T1 JOIN singer_in_concert AS T2 ON T1.singer_id = T2.singer_id", True),
    ("foreign key mapping in WHERE", M, "SELECT T1.concert_name FROM concert AS T1 JOIN stadium AS T2 ON T1.stadium_id = T2.stadium_id WHERE T1.stadium_id = 1",
     "SELECT T1.concert_name FROM concert AS T1 JOIN stadium AS T2 ON T1.stadium_id = T2.stadium_id WHERE T2.stadium_id = 1", True),
    ("foreign key mapping needs the table in FROM, but the tables still differ", M, "SELECT singer_id FROM singer", "SELECT singer_id FROM singer_in_concert", False),
    ("no foreign key mapping inside a WHERE subquery", M, "SELECT name FROM singer WHERE singer_id IN (SELECT T1.singer_id FROM singer AS T1 JOIN singer_in_concert AS T2 ON T1.singer_id = T2.singer_id)",
     "SELECT name FROM singer WHERE singer_id IN (SELECT T2.singer_id FROM singer AS T1 JOIN singer_in_concert AS T2 ON T1.singer_id = T2.singer_id)", False),
    ("values ignored inside a WHERE subquery", M, "SELECT name FROM singer WHERE age > (SELECT avg(age) FROM singer WHERE country = 'x')",
     "SELECT name FROM singer WHERE age > (SELECT avg(age) FROM singer WHERE country = 'y')", True),
    ("WHERE subquery compared whole: its JOIN ON counts", M, "SELECT name FROM singer WHERE singer_id IN (SELECT T1.singer_id FROM singer AS T1 JOIN singer_in_concert AS T2 ON T1.singer_id = T2.singer_id)",
     "SELECT name FROM singer WHERE singer_id IN (SELECT T1.singer_id FROM singer AS T1 JOIN singer_in_concert AS T2 ON T2.singer_id = T1.singer_id)", False),
    ("WHERE subquery compared whole: its SELECT order counts", M, "SELECT name FROM singer WHERE age > (SELECT max(age) FROM singer WHERE age > 1 AND country = 'x')",
     "SELECT name FROM singer WHERE age > (SELECT max(age) FROM singer WHERE country = 'x' AND age > 1)", False),
    ("WHERE subquery table differs", M, "SELECT name FROM singer WHERE singer_id IN (SELECT singer_id FROM singer_in_concert)",
     "SELECT name FROM singer WHERE singer_id IN (SELECT singer_id FROM singer)", False),
    ("NOT IN differs from IN", M, "SELECT name FROM singer WHERE singer_id NOT IN (SELECT singer_id FROM singer_in_concert)",
     "SELECT name FROM singer WHERE singer_id IN (SELECT singer_id FROM singer_in_concert)", False),
    ("WHERE conditions are a multiset", M, "SELECT name FROM singer WHERE age > 1 AND country = 'x'", "SELECT name FROM singer WHERE country = 'y' AND age > 2", True),
    ("AND and OR differ", M, "SELECT name FROM singer WHERE age > 1 AND country = 'x'", "SELECT name FROM singer WHERE age > 1 OR country = 'x'", False),
    ("operators differ", M, "SELECT name FROM singer WHERE age > 1", "SELECT name FROM singer WHERE age >= 1", False),
    ("split '! =' is read as '!='", M, "SELECT name FROM singer WHERE age != 1", "SELECT name FROM singer WHERE age ! = 1", True),
    ("split '> =' is read as '>='", M, "SELECT name FROM singer WHERE age >= 1", "SELECT name FROM singer WHERE age > = 1", True),
    ("no space before '=' glues the column to it: unreadable", M, "SELECT name FROM singer WHERE age = 1", "SELECT name FROM singer WHERE age=1", False),
    ("no space around '>' is fine (NLTK splits '>')", M, "SELECT name FROM singer WHERE age > 1", "SELECT name FROM singer WHERE age>1", True),
    ("BETWEEN values ignored", M, "SELECT name FROM singer WHERE age BETWEEN 1 AND 5", "SELECT name FROM singer WHERE age BETWEEN 2 AND 9", True),
    ("LIKE differs from =", M, "SELECT name FROM singer WHERE name LIKE '%a%'", "SELECT name FROM singer WHERE name = 'a'", False),
    ("ORDER BY direction counts", M, "SELECT name FROM singer ORDER BY age DESC", "SELECT name FROM singer ORDER BY age", False),
    ("ORDER BY ASC is the default", M, "SELECT name FROM singer ORDER BY age ASC", "SELECT name FROM singer ORDER BY age", True),
    ("ORDER BY has one direction, the last one written", M, "SELECT name FROM singer ORDER BY age DESC, name", "SELECT name FROM singer ORDER BY age, name DESC", True),
    ("ORDER BY items in order", M, "SELECT name FROM singer ORDER BY age, name", "SELECT name FROM singer ORDER BY name, age", False),
    ("LIMIT value ignored", M, "SELECT name FROM singer ORDER BY age DESC LIMIT 1", "SELECT name FROM singer ORDER BY age DESC LIMIT 5", True),
    ("LIMIT presence counts", M, "SELECT name FROM singer ORDER BY age DESC LIMIT 1", "SELECT name FROM singer ORDER BY age DESC", False),
    ("GROUP BY column differs", M, "SELECT count(*) FROM singer GROUP BY country", "SELECT count(*) FROM singer GROUP BY age", False),
    ("GROUP BY columns in order", M, "SELECT count(*) FROM singer GROUP BY country, age", "SELECT count(*) FROM singer GROUP BY age, country", False),
    ("GROUP BY same name, other table: HAVING check sees full ids", M,
     "SELECT count(*) FROM singer AS T1 JOIN stadium AS T2 ON T1.singer_id = T2.stadium_id GROUP BY T1.name",
     "SELECT count(*) FROM singer AS T1 JOIN stadium AS T2 ON T1.singer_id = T2.stadium_id GROUP BY T2.name", False),
    ("HAVING values ignored", M, "SELECT country FROM singer GROUP BY country HAVING count(*) > 2", "SELECT country FROM singer GROUP BY country HAVING count(*) > 9", True),
    ("HAVING presence counts", M, "SELECT country FROM singer GROUP BY country HAVING count(*) > 2", "SELECT country FROM singer GROUP BY country", False),
    ("set operation kind counts", M, "SELECT name FROM singer UNION SELECT name FROM stadium", "SELECT name FROM singer EXCEPT SELECT name FROM stadium", False),
    ("set operation parts are matched in place", M, "SELECT name FROM singer UNION SELECT name FROM stadium", "SELECT name FROM stadium UNION SELECT name FROM singer", False),
    ("set operation part values ignored", M, "SELECT name FROM singer WHERE age > 1 INTERSECT SELECT name FROM singer WHERE country = 'x'",
     "SELECT name FROM singer WHERE age > 5 INTERSECT SELECT name FROM singer WHERE country = 'y'", True),
    ("foreign keys in a set-operation part map only for tables of the outer FROM", M,
     "SELECT singer_id FROM singer EXCEPT SELECT T2.singer_id FROM singer AS T1 JOIN singer_in_concert AS T2 ON T1.singer_id = T2.singer_id",
     "SELECT singer_id FROM singer EXCEPT SELECT T1.singer_id FROM singer AS T1 JOIN singer_in_concert AS T2 ON T1.singer_id = T2.singer_id", False),
    ("foreign keys map in a set-operation part when its table is in the outer FROM", M,
     J + " UNION SELECT T2.singer_id FROM singer AS T1 JOIN singer_in_concert AS T2 ON T1.singer_id = T2.singer_id",
     J + " UNION SELECT T1.singer_id FROM singer AS T1 JOIN singer_in_concert AS T2 ON T1.singer_id = T2.singer_id", True),
    ("FROM subquery compared whole, values included", M, "SELECT count(*) FROM (SELECT * FROM singer WHERE age > 1)", "SELECT count(*) FROM (SELECT * FROM singer WHERE age > 2)", False),
    ("FROM subquery identical", M, "SELECT count(*) FROM (SELECT * FROM singer WHERE age > 1)", "SELECT count(*) FROM (SELECT * FROM singer WHERE age > 1)", True),
    ("keywords and names are case-insensitive", M, "SELECT name FROM singer WHERE age > 1", "select NAME from SINGER where AGE > 1", True),
    ("trailing semicolon ignored", M, "SELECT name FROM singer", "SELECT name FROM singer;", True),
    ("'value' in a prediction is read as 1", M, "SELECT name FROM singer WHERE age > 3", "SELECT name FROM singer WHERE age > value", True),
    ("unreadable: column alias", M, "SELECT count(*) FROM singer", "SELECT count(*) AS n FROM singer", False),
    ("unreadable: IN value list", M, "SELECT name FROM singer WHERE age IN (SELECT age FROM singer)", "SELECT name FROM singer WHERE age IN (1, 2)", False),
    ("unreadable: IS NULL", M, "SELECT name FROM singer WHERE age > 1", "SELECT name FROM singer WHERE age IS NULL", False),
    ("unreadable: LEFT JOIN", M, J, "SELECT T1.name FROM singer AS T1 LEFT JOIN singer_in_concert AS T2 ON T1.singer_id = T2.singer_id", False),
    ("unreadable: comma join", M, "SELECT name FROM singer", "SELECT singer.name FROM singer, stadium", False),
    ("unreadable: unknown column", M, "SELECT name FROM singer", "SELECT nme FROM singer", False),
    ("unreadable: empty prediction", M, "SELECT name FROM singer", "", False),
    ("unreadable: not SQL", M, "SELECT name FROM singer", "SELEC name FRM singer", False),
    ("unreadable: table without AS alias", M, "SELECT name FROM singer", "SELECT s.name FROM singer s", False),
    ("unreadable: subquery in SELECT", M, "SELECT name FROM singer", "SELECT name, (SELECT count(*) FROM stadium) FROM singer", False),
    ("tokens after the last clause read are ignored", M, "SELECT name FROM singer ORDER BY age LIMIT 1", "SELECT name FROM singer ORDER BY age LIMIT 1 garbage here", True),
    ("unreadable: arithmetic between aggregates", M, "SELECT max(age) FROM singer", "SELECT max(age) - min(age) FROM singer", False),
    ("unreadable: T1.*", M, "SELECT * FROM singer", "SELECT T1.* FROM singer AS T1", False),
    ("unreadable: an alias equal to a table name", M, "SELECT name FROM singer", "SELECT stadium.name FROM singer AS stadium", False),
    ("keyword-named column read through its table", R, "SELECT name FROM train WHERE time > 1", "SELECT name FROM train WHERE time > 5", True),
    ("quoted keyword column is a value: unreadable in SELECT", R, "SELECT name FROM train", 'SELECT "From" FROM train', False),
    ("composite-key table joins", R, "SELECT T1.name FROM train AS T1 JOIN route AS T2 ON T1.train_id = T2.train_id JOIN station AS T3 ON T2.station_id = T3.station_id WHERE T3.name = 'a'",
     "SELECT T1.name FROM station AS T3 JOIN route AS T2 ON T2.station_id = T3.station_id JOIN train AS T1 ON T1.train_id = T2.train_id WHERE T3.name = 'b'", True),
    ("foreign keys on a composite-key table map", R, "SELECT T2.train_id FROM train AS T1 JOIN route AS T2 ON T1.train_id = T2.train_id",
     "SELECT T1.train_id FROM train AS T1 JOIN route AS T2 ON T1.train_id = T2.train_id", True),
]


@pytest.mark.parametrize("rule,db,gold,pred,expected", CASES, ids=[c[0] for c in CASES])
def test_official_exact_match(rule, db, gold, pred, expected):
    assert exact_match(gold, pred, TABLES[db]) is expected


def test_unreadable_gold_scores_false():
    # the official script stops with a traceback on such a gold; we score the question wrong
    assert exact_match("SELECT count(*) AS n FROM singer", "SELECT count(*) AS n FROM singer", TABLES[M]) is False




def test_foreign_key_groups_are_never_merged():
    # official grouping, pair by pair: (1,2) and (3,4) form two groups; (2,3) joins the first
    # group holding either column, so column 3 is in both and the later group decides.
    # Output of the official build_foreign_key_map for this entry:
    entry = {"table_names_original": ["A", "B", "C", "D"],
             "column_names_original": [[-1, "*"], [0, "id"], [1, "a_id"], [2, "id"], [3, "c_id"]],
             "foreign_keys": [[1, 2], [3, 4], [2, 3]]}
    assert schema_from_entry(entry).foreign_keys == {
        "__a.id__": "__a.id__", "__b.a_id__": "__a.id__", "__c.id__": "__c.id__", "__d.c_id__": "__c.id__"}


def test_names_from_the_database_file():
    # the official reader takes names from the SQLite file: a column tables.json lacks is
    # readable when the database's own names are given
    entry = TABLES[M]
    in_db = {t: set(cols) for t, cols in [("singer", {"singer_id", "name", "country", "age", "is_male", "nickname"})]}
    gold, pred = "SELECT nickname FROM singer", "SELECT nickname FROM singer"
    assert exact_match(gold, pred, entry) is False  # unreadable gold without the database's names
    assert exact_match(gold, pred, schema_from_entry(entry, in_db)) is True
