"""Spider hardness: the label of the official `eval_hardness`.

Each expected label was produced by the official script (taoyds/test-suite-sql-eval
evaluation.py + process_sql.py) on the databases of tests/spider_fixture.py; each case
names the counting rule it pins. The same labels come out without the tables.json entry.
"""

import pytest

from spider_fixture import TABLES
from sqlforge.official.hardness import spider_hardness

M = "music"
R = "rail"
J = "SELECT T1.name FROM singer AS T1 JOIN singer_in_concert AS T2 ON T1.singer_id = T2.singer_id"

HARDNESS = [
    # rule, db, sql, official label
    ("one table, one column: easy", M, "SELECT name FROM singer", "easy"),
    ("one WHERE condition: easy", M, "SELECT name FROM singer WHERE age > 1", "easy"),
    ("count(*) alone: easy", M, "SELECT count(*) FROM singer", "easy"),
    ("two selected items: medium", M, "SELECT name, age FROM singer", "medium"),
    ("one join: easy (one component1)", M, J, "easy"),
    ("join + WHERE: medium", M, J + " WHERE T1.age > 1", "medium"),
    ("two conditions count as others: medium", M, "SELECT name FROM singer WHERE age > 1 AND country = 'x'", "medium"),
    ("OR counts as component1 and the two conditions as others", M, "SELECT name FROM singer WHERE age > 1 OR country = 'x'", "medium"),
    ("ORDER BY + LIMIT: medium", M, "SELECT name FROM singer ORDER BY age DESC LIMIT 1", "medium"),
    ("GROUP BY + ORDER BY + LIMIT: hard", M, "SELECT country FROM singer GROUP BY country ORDER BY count(*) DESC LIMIT 1", "hard"),
    ("two aggregates count as others", M, "SELECT max(age), min(age) FROM singer", "medium"),
    ("an aggregate inside HAVING is not counted: easy", M, "SELECT country FROM singer GROUP BY country HAVING count(*) > 1", "easy"),
    ("each HAVING AND/OR counts as an aggregate", M, "SELECT country, count(*) FROM singer GROUP BY country HAVING count(*) > 1 AND max(age) > 2", "medium"),
    ("WHERE subquery: component2, hard", M, "SELECT name FROM singer WHERE age > (SELECT avg(age) FROM singer)", "hard"),
    ("NOT IN subquery alone: hard", M, "SELECT name FROM singer WHERE singer_id NOT IN (SELECT singer_id FROM singer_in_concert)", "hard"),
    ("a negated condition counts as an aggregate: count(*) + NOT IN is extra", M,
     "SELECT count(*) FROM singer WHERE singer_id NOT IN (SELECT singer_id FROM singer_in_concert)", "extra"),
    ("count(*) + IN subquery: hard", M, "SELECT count(*) FROM singer WHERE singer_id IN (SELECT singer_id FROM singer_in_concert)", "hard"),
    ("set operation: component2, hard", M, "SELECT name FROM singer UNION SELECT name FROM stadium", "hard"),
    ("set operation + two columns: extra", M, "SELECT name, age FROM singer UNION SELECT name, capacity FROM stadium", "extra"),
    ("three set operations count once at the top", M, "SELECT name FROM singer UNION SELECT name FROM stadium UNION SELECT concert_name FROM concert", "hard"),
    ("FROM subquery is no component2: easy", M, "SELECT count(*) FROM (SELECT * FROM singer WHERE age > 1)", "easy"),
    ("FROM subquery joined counts as a join", M, "SELECT count(*) FROM (SELECT * FROM singer) JOIN stadium", "easy"),
    ("LIKE is component1", M, "SELECT name FROM singer WHERE name LIKE '%a%'", "medium"),
    ("two joins + WHERE + ORDER BY: four component1, extra", R,
     "SELECT T1.name FROM train AS T1 JOIN route AS T2 ON T1.train_id = T2.train_id JOIN station AS T3 ON T2.station_id = T3.station_id WHERE T3.name = 'a' ORDER BY T1.time", "extra"),
    ("two GROUP BY columns count as others", M, "SELECT country, age, count(*) FROM singer GROUP BY country, age", "medium"),
    ("an aggregate in ORDER BY counts: two aggregates + two items + two component1 is extra", M, "SELECT country, count(*) FROM singer GROUP BY country ORDER BY count(*) DESC", "extra"),
    ("an OR in WHERE counts after a JOIN ON condition (each clause alternates on its own)", M,
     "SELECT min(T1.name), T2.name FROM singer AS T1 JOIN stadium AS T2 ON T1.singer_id = T2.stadium_id WHERE T2.name LIKE '%a%' OR T2.name != 'a b'", "extra"),
    ("join with OR in ON counts OR", M, "SELECT T1.name FROM singer AS T1 JOIN stadium AS T2 ON T1.singer_id = 1 OR T1.age = 2", "medium"),
    ("many components: extra", M, J + " WHERE T1.age > 1 AND T1.country = 'x' GROUP BY T1.name HAVING count(*) > 1 ORDER BY T1.name LIMIT 3", "extra"),
    ("unreadable SQL (column alias) gets extra, the official has no label", M, "SELECT count(*) AS n FROM singer", "crash"),
]


@pytest.mark.parametrize("rule,db,sql,expected", HARDNESS, ids=[h[0] for h in HARDNESS])
def test_official_hardness(rule, db, sql, expected):
    expected = "extra" if expected == "crash" else expected
    assert spider_hardness(sql, TABLES[db]) == expected
    assert spider_hardness(sql) == expected  # no schema: same counts
