"""The SQL sandbox: read-only, bounded, and every refusal classified."""

import hashlib
import sqlite3
import time

import pytest

from sqlforge.sqlexec import DENIED, MULTI, OK, SYNTAX, TIMEOUT, TOO_LARGE, Executor


@pytest.fixture()
def db(tmp_path):
    path = tmp_path / "shop.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT, price REAL)")
    conn.executemany("INSERT INTO item VALUES (?, ?, ?)", [(i, f"item{i}", i * 1.5) for i in range(50)])
    conn.commit()
    conn.close()
    return path


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


HOSTILE = [
    ("DROP TABLE item", DENIED),
    ("DELETE FROM item", DENIED),
    ("UPDATE item SET price = 0", DENIED),
    ("INSERT INTO item VALUES (999, 'x', 1)", DENIED),
    ("CREATE TABLE evil (x)", DENIED),
    ("ATTACH DATABASE '{dir}/new.sqlite' AS evil", DENIED),
    ("VACUUM INTO '{dir}/copy.sqlite'", DENIED),
    ("SELECT load_extension('/tmp/evil.so')", DENIED),
    ("PRAGMA query_only = OFF", DENIED),
    ("PRAGMA journal_mode = DELETE", DENIED),
    ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c", TIMEOUT),
    ("SELECT count(*) FROM item a, item b, item c, item d, item e", TIMEOUT),
    ("SELECT * FROM item a, item b", TOO_LARGE),
    ("SELECT printf('%.*c', 100000000, 'x')", TOO_LARGE),
    ("SELECT zeroblob(100000000)", TOO_LARGE),
    ("SELECT 1; DROP TABLE item", MULTI),
    ("SELEC name FROM item", SYNTAX),
]


@pytest.mark.parametrize("sql,kind", HOSTILE)
def test_hostile_sql_is_refused_and_database_unchanged(db, sql, kind):
    before = sha(db)
    files_before = sorted(p.name for p in db.parent.iterdir())
    executor = Executor(timeout_s=1.0, max_rows=1000, max_bytes=1 << 20)
    start = time.monotonic()
    result = executor.execute(db, sql.format(dir=db.parent))
    assert time.monotonic() - start < 1.0 + 1.0
    assert result.error_kind == kind, result.error
    assert not result.ok and result.rows == []
    assert sha(db) == before
    assert sorted(p.name for p in db.parent.iterdir()) == files_before


def test_plain_select_and_cache(db):
    executor = Executor(timeout_s=5)
    first = executor.execute(db, "SELECT name FROM item WHERE id < 3 ORDER BY id")
    assert first.error_kind == OK
    assert first.rows == [("item0",), ("item1",), ("item2",)]
    again = executor.execute(db, "SELECT name FROM item WHERE id < 3 ORDER BY id")
    assert again is first and executor.calls == 1


def test_missing_database_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        Executor().execute(tmp_path / "nope.sqlite", "SELECT 1")
