"""SQL identifiers as SQLite reads them: which names must be quoted, and how.

Every query and schema text sqlforge builds from a name goes through `quote`: names with spaces or
punctuation (BIRD), leading digits, and SQL keywords of any case (Spider's `railway` has a column
`train.From`) are double-quoted; every other name stays bare, as the datasets' gold SQL writes it.
"""

from __future__ import annotations

import functools
import re
import sqlite3

_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Every keyword SQLite documents (sqlite.org/lang_keywords.html, 147 words as of 3.40). Some of them
# are accepted bare in some places and not in others (`raise` names a column in CREATE TABLE but not
# in a SELECT list), so a name on this list is always quoted: a quoted identifier is valid everywhere.
SQLITE_KEYWORDS = frozenset("""
ABORT ACTION ADD AFTER ALL ALTER ALWAYS ANALYZE AND AS ASC ATTACH AUTOINCREMENT BEFORE BEGIN BETWEEN BY
CASCADE CASE CAST CHECK COLLATE COLUMN COMMIT CONFLICT CONSTRAINT CREATE CROSS CURRENT CURRENT_DATE
CURRENT_TIME CURRENT_TIMESTAMP DATABASE DEFAULT DEFERRABLE DEFERRED DELETE DESC DETACH DISTINCT DO DROP
EACH ELSE END ESCAPE EXCEPT EXCLUDE EXCLUSIVE EXISTS EXPLAIN FAIL FILTER FIRST FOLLOWING FOR FOREIGN FROM
FULL GENERATED GLOB GROUP GROUPS HAVING IF IGNORE IMMEDIATE IN INDEX INDEXED INITIALLY INNER INSERT INSTEAD
INTERSECT INTO IS ISNULL JOIN KEY LAST LEFT LIKE LIMIT MATCH MATERIALIZED NATURAL NO NOT NOTHING NOTNULL
NULL NULLS OF OFFSET ON OR ORDER OTHERS OUTER OVER PARTITION PLAN PRAGMA PRECEDING PRIMARY QUERY RAISE RANGE
RECURSIVE REFERENCES REGEXP REINDEX RELEASE RENAME REPLACE RESTRICT RETURNING RIGHT ROLLBACK ROW ROWS
SAVEPOINT SELECT SET TABLE TEMP TEMPORARY THEN TIES TO TRANSACTION TRIGGER UNBOUNDED UNION UNIQUE UPDATE
USING VACUUM VALUES VIEW VIRTUAL WHEN WHERE WINDOW WITH WITHOUT
""".split())


@functools.lru_cache(maxsize=65536)
def _sqlite_accepts_bare(name: str) -> bool:
    """Ask the SQLite we run on: does `name` work unquoted as a table, a column, an alias and an
    expression? Catches keywords a newer SQLite adds after the list above was written."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute(f"CREATE TABLE {name} ({name} INT)")
        conn.execute(f"SELECT {name}.{name}, {name} AS {name} FROM {name} WHERE {name} IS NOT NULL "
                     f"GROUP BY {name} ORDER BY {name}").fetchall()
        return True
    except sqlite3.Error:
        return False
    finally:
        conn.close()


def needs_quotes(name: str) -> bool:
    """True unless SQLite reads `name` as the same identifier everywhere when it is left bare."""
    return not _PLAIN.match(name) or name.upper() in SQLITE_KEYWORDS or not _sqlite_accepts_bare(name)


def quote(name: str) -> str:
    """`name` as an SQL identifier: bare when that is unambiguous, else in double quotes (inner quotes doubled)."""
    return '"' + name.replace('"', '""') + '"' if needs_quotes(name) else name
