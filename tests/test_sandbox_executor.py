"""The SQL sandbox: read-only, bounded, and every refusal classified."""

import hashlib
import sqlite3
import threading
import time

import pytest
from sqlforge.sandbox.sqlite import CRASHED, DENIED, MULTI, OK, SYNTAX, TIMEOUT, TOO_LARGE
from conftest import make_executor


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


# instr() on a 1 MB haystack and a 200 KB needle that never matches: ~6 s inside one VM step
LONG_STEP = "SELECT instr(printf('%.*c', 1000000, 'a'), printf('%.*c', 200000, 'a') || 'b')"

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
    ("SELECT replace(printf('%.*c', 1000000, 'x'), 'x', 'xxxxxxxxxxxxxxxxxxxx')", TOO_LARGE),
    ("SELECT zeroblob(100000000)", TOO_LARGE),
    ("SELECT 1; DROP TABLE item", MULTI),
    # one SQLite VM step of several seconds: the progress handler never runs, the worker is killed
    (LONG_STEP, TIMEOUT),
    # a string past the result byte cap is refused inside SQLite, before it is built
    ("SELECT length(hex(zeroblob(300000000)))", TOO_LARGE),
    ("SELEC name FROM item", SYNTAX),
]


@pytest.mark.parametrize("sql,kind", HOSTILE)
def test_hostile_sql_is_refused_and_database_unchanged(db, sql, kind):
    before = sha(db)
    files_before = tree_listing(db.parent)
    executor = make_executor(timeout_s=1.0, max_rows=1000, max_bytes=1 << 20)
    start = time.monotonic()
    result = executor.execute(db, sql.format(dir=db.parent))
    assert time.monotonic() - start < 1.0 + 1.0
    assert result.error_kind == kind, result.error
    assert not result.ok and result.rows == []
    assert sha(db) == before
    assert tree_listing(db.parent) == files_before


def tree_listing(root):
    """Every file and folder under root: no query may create one (ATTACH, VACUUM INTO, journals)."""
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_runaway_step_kills_worker_and_executor_recovers(db):
    with make_executor(timeout_s=0.3, kill_grace_s=0.3) as executor:
        start = time.monotonic()
        result = executor.execute(db, LONG_STEP)
        assert result.error_kind == TIMEOUT and "killed" in result.error
        assert time.monotonic() - start < 0.3 + 1.0
        assert executor.killed == 1
        assert executor.execute(db, "SELECT count(*) FROM item").rows == [(50,)]


def test_worker_that_dies_is_a_classified_error(db):
    endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
    with make_executor(timeout_s=5.0) as executor:
        assert executor.execute(db, "SELECT 1").ok
        worker = executor._workers[0]
        threading.Timer(0.3, worker.proc.kill).start()  # dies mid-query, as under the OOM killer
        start = time.monotonic()
        assert executor.execute(db, endless).error_kind == CRASHED
        assert time.monotonic() - start < 2.0
        assert executor.execute(db, "SELECT 2").rows == [(2,)]  # on a new worker
        executor._workers[0].proc.kill()  # dies while idle: the next query gets a new worker too
        executor._workers[0].proc.wait()
        assert executor.execute(db, "SELECT 3").rows == [(3,)]


def test_parallel_workers_keep_order_and_run_each_query_once(db):
    queries = [(db, f"SELECT {i % 7} + count(*) FROM item") for i in range(40)]
    with make_executor(timeout_s=5.0, workers=2) as executor:
        results = executor.execute_many(queries)
        assert [r.rows for r in results] == [[(i % 7 + 50,)] for i in range(40)]
        assert executor.calls == 7


def test_plain_select_and_cache(db):
    executor = make_executor(timeout_s=5)
    first = executor.execute(db, "SELECT name FROM item WHERE id < 3 ORDER BY id")
    assert first.error_kind == OK
    assert first.rows == [("item0",), ("item1",), ("item2",)]
    again = executor.execute(db, "SELECT name FROM item WHERE id < 3 ORDER BY id")
    assert again is first and executor.calls == 1


def test_missing_database_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        make_executor().execute(tmp_path / "nope.sqlite", "SELECT 1")
