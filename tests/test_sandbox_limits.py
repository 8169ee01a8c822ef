"""The sandbox's resource bounds, measured from outside the worker (issue 22, items 1-3 and 5).

Memory: worker peak resident size read from /proc while the query runs, and
this process's own RSS. Files: the database folder and the temp folder listed
before and after, and every file the worker holds open during the query.
"""

import itertools
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc

import pytest
from sandbox_probe import WorkerWatch, alive, listing, own_rss_mb

from sqlforge.io import InputError
from sqlforge.sandbox.executor import Limits
from conftest import make_executor
from sqlforge.sandbox.sqlite import CRASHED, DENIED, OK, OUT_OF_MEMORY, SYNTAX, TOO_LARGE, open_readonly, row_cost, run_query

MB = 1 << 20


@pytest.fixture()
def db(tmp_path):
    folder = tmp_path / "db"
    folder.mkdir()
    path = folder / "shop.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT, price REAL)")
    conn.executemany("INSERT INTO item VALUES (?, ?, ?)", [(i, f"item{i:05d}", i * 1.5) for i in range(2000)])
    conn.commit()
    conn.close()
    return path


@pytest.fixture()
def tmpdir_env(tmp_path, monkeypatch):
    """The temp folder the worker sees (TMPDIR, SQLITE_TMPDIR), empty, to be listed afterwards."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setenv("SQLITE_TMPDIR", str(tmp))
    return tmp


def rows_of(n, select):
    return f"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {n}) SELECT {select} FROM c"


WARM_UP = itertools.count()


def watched(executor, db, sql, **kw):
    """Run one query while watching its worker, started first by a query never seen before."""
    executor.execute(db, f"SELECT {next(WARM_UP)}", **{k: v for k, v in kw.items() if k == "trusted"})
    with WorkerWatch(executor._workers[0].proc.pid) as watch:
        result = executor.execute(db, sql, **kw)
    return result, max(watch.peak_kb, executor.worker_peak_kb) / 1024, watch


def test_worker_address_space_is_capped(db):
    """Rule pinned: a prediction's worker never holds more than memory_mb, whatever the query (before: a
    400 MB zeroblob peaked the worker at ~780 MB and came back ok); hitting the cap is out_of_memory."""
    with make_executor(timeout_s=10, memory_mb=256, max_bytes=1 << 30, max_cells=10 ** 9) as executor:
        result, peak_mb, _ = watched(executor, db, "SELECT zeroblob(400000000)")
        assert result.error_kind == OUT_OF_MEMORY and result.rows == []
        assert peak_mb <= 256
        assert executor.execute(db, "SELECT count(*) FROM item").rows == [(2000,)]  # a fresh worker goes on


def test_wide_result_bounded_in_cells_and_bytes_not_characters(db):
    """Rule pinned: 1,600 columns x 9,999 rows of a 3-byte character is 16 M characters but ~1.3 GB of Python
    objects (before: came back ok, worker peak 2.4 GB, 1.4 GB left in the caller). Now too_large with the
    worker and the caller both small."""
    sql = rows_of(9999, ", ".join(["'€'"] * 1600))
    before = own_rss_mb()
    with make_executor(timeout_s=30) as executor:  # the defaults: 10,000 rows, 1 M cells, 16 MB
        result, peak_mb, _ = watched(executor, db, sql)
    assert result.error_kind == TOO_LARGE
    assert peak_mb < 200
    assert own_rss_mb() - before < 50


def test_result_cost_is_an_upper_bound_of_real_memory(db):
    """Rule pinned: row_cost (what the caps and the cache count) is at least what the rows really take,
    measured with tracemalloc, for ASCII, Latin-1, 3- and 4-byte UTF-8 text, blobs, numbers and NULL."""
    conn = open_readonly(db)
    cases = {"ascii": "'abc' || x", "latin1": "'é' || x", "cjk": "'中文' || x", "emoji": "'😀😀' || x",
             "blob": "randomblob(x % 40)", "int": "x * 1000003", "float": "x * 0.5", "null": "NULL",
             "mixed": "x, 'é' || x, x * 0.5, NULL, zeroblob(3), '中' || x"}
    for name, select in cases.items():
        tracemalloc.start()
        result = run_query(conn, rows_of(5000, select), 10, 10_000, 1 << 30, 10 ** 9)
        real = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        assert result.ok and len(result.rows) == 5000
        assert result.nbytes == sum(row_cost(r) for r in result.rows)
        assert real <= result.nbytes, (name, real, result.nbytes)
        assert result.nbytes < 4 * real + 200_000, name  # and not wildly above it
    conn.close()


def test_result_cache_is_lru_bounded_by_bytes(db):
    """Rule pinned: the cache never holds more than cache_bytes of result cost (before: unbounded);
    the least recently used result goes first; a result over the whole budget is not cached."""
    with make_executor(timeout_s=10, cache_bytes=1 * MB) as executor:
        queries = [f"SELECT name, {i} FROM item" for i in range(12)]  # ~360 KB of cost each
        for sql in queries:
            assert executor.execute(db, sql).ok
            assert executor.cache_used_bytes <= 1 * MB
        calls = executor.calls
        executor.execute(db, queries[-1])  # recent: cached
        assert executor.calls == calls
        executor.execute(db, queries[0])  # evicted long ago: runs again
        assert executor.calls == calls + 1
        big = executor.execute(db, "SELECT name, name, name, name, name, name, name, name FROM item")
        assert big.ok and big.nbytes > 1 * MB
        executor.execute(db, "SELECT name, name, name, name, name, name, name, name FROM item")
        assert executor.calls == calls + 3 and executor.cache_used_bytes <= 1 * MB


def test_trusted_gold_gets_its_own_larger_bounds(db):
    """Rule pinned: golds run under gold_limits, larger than a prediction's but still bounded; a
    prediction after a big gold gets its full memory again (the worker is recycled)."""
    gold_limits = Limits(memory_mb=768, max_rows=100_000, max_cells=1_000_000, max_bytes=64 * MB)
    with make_executor(timeout_s=10, memory_mb=256, max_rows=10_000, gold_limits=gold_limits) as executor:
        many = rows_of(50_000, "x")
        assert executor.execute(db, many).error_kind == TOO_LARGE
        assert len(executor.execute(db, many, trusted=True).rows) == 50_000
        result, peak_mb, _ = watched(executor, db, "SELECT length(zeroblob(300000000) || 'x')", trusted=True)
        assert result.error_kind == TOO_LARGE  # past the gold's 64 MB length cap, refused inside SQLite
        huge = "SELECT count(*) FROM (SELECT x FROM (" + rows_of(3_000_000, "x") + ") ORDER BY x DESC)"
        result, peak_mb, _ = watched(executor, db, huge, trusted=True)
        assert result.rows == [(3_000_000,)] and peak_mb <= 768
        assert executor.execute(db, "SELECT count(*) FROM item").rows == [(2000,)]


def test_sorting_uses_no_temp_files(db, tmpdir_env):
    """Rule pinned: an ORDER BY over a cross join keeps its sort in (capped) memory. Before: the worker
    wrote SQLite temp files (unlinked at once, so only its open files show them), up to 941 MB in 20 s."""
    folder_before, tmp_before = listing(db.parent), listing(tmpdir_env)
    with make_executor(timeout_s=2, memory_mb=512) as executor:
        result, peak_mb, watch = watched(executor, db, "SELECT a.name, b.name FROM item a, item b ORDER BY b.name || a.id")
    assert result.error_kind in {"timeout", OUT_OF_MEMORY, TOO_LARGE}
    assert watch.new_disk_files() == set()
    assert peak_mb <= 512
    assert listing(db.parent) == folder_before and listing(tmpdir_env) == tmp_before


def test_wal_database_read_without_creating_files(tmp_path):
    """Rule pinned: reading a WAL-mode database creates no -wal/-shm beside it (before: both appeared)."""
    folder = tmp_path / "raw"
    folder.mkdir()
    path = folder / "wal.sqlite"
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode = WAL").fetchone() == ("wal",)
    conn.execute("CREATE TABLE t (a)")
    conn.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(100)])
    conn.commit()
    conn.close()  # the last connection checkpoints and removes -wal; the file stays in WAL mode
    assert path.read_bytes()[18:20] == b"\x02\x02"  # WAL mode in the header
    before = listing(folder)
    with make_executor(timeout_s=5) as executor:
        assert executor.execute(path, "SELECT count(*) FROM t").rows == [(100,)]
        assert listing(folder) == before
    assert listing(folder) == before


def test_uncheckpointed_wal_is_a_database_problem(tmp_path):
    """Rule pinned: a -wal holding changes not in the database file (which an immutable open would
    silently ignore) is reported as a database problem, naming the file."""
    path = tmp_path / "live.sqlite"
    writer = sqlite3.connect(path)
    writer.execute("PRAGMA journal_mode = WAL")
    writer.execute("CREATE TABLE t (a)")
    writer.execute("INSERT INTO t VALUES (1)")
    writer.commit()
    try:
        with make_executor(timeout_s=5) as executor, pytest.raises(InputError, match="live.sqlite-wal"):
            executor.execute(path, "SELECT count(*) FROM t")
    finally:
        writer.close()


def test_hot_journal_is_a_database_problem_not_denied(tmp_path):
    """Rule pinned: a journal left by an interrupted write is reported as the database's problem (InputError
    naming the file), not as a refused query (before: every query came back `denied`)."""
    path = tmp_path / "hot.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (a)")
    conn.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(5000)])
    conn.commit()
    conn.close()
    # a writer killed mid-transaction after its journal was written and the database partly changed
    code = f"""
        import os, sqlite3
        conn = sqlite3.connect({str(path)!r})
        conn.execute("PRAGMA cache_size = 1")  # spill changed pages to the database before commit
        conn.execute("BEGIN")
        conn.execute("UPDATE t SET a = -a")
        os._exit(0)
    """
    subprocess.run([sys.executable, "-c", textwrap.dedent(code)], check=True)
    journal = tmp_path / "hot.sqlite-journal"
    assert journal.stat().st_size > 0
    with make_executor(timeout_s=5) as executor:
        with pytest.raises(InputError, match="hot journal hot.sqlite-journal"):
            executor.execute(path, "SELECT count(*) FROM t")
    assert journal.stat().st_size > 0  # left for a writer to roll back


ORPHAN_PARENT = """
import sys, time
from conftest import make_executor
executor = make_executor(timeout_s=60, kill_grace_s=5)
executor.execute(sys.argv[1], "SELECT 1")
print(executor._workers[0].proc.pid, flush=True)
executor.execute(sys.argv[1], "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c")
"""


def test_workers_die_with_their_parent(db):
    """Rule pinned: kill -9 the process that runs a 60 s query; its worker is gone within 1 s
    (before: it ran on to its timeout)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    parent = subprocess.Popen([sys.executable, "-c", ORPHAN_PARENT, str(db)], stdout=subprocess.PIPE, env=env)
    worker_pid = int(parent.stdout.readline())
    time.sleep(0.5)  # the long query is running
    assert alive(worker_pid)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    killed_at = time.monotonic()
    while alive(worker_pid) and time.monotonic() - killed_at < 3:
        time.sleep(0.01)
    assert not alive(worker_pid)
    assert time.monotonic() - killed_at < 1.0


def test_crashed_result_is_not_cached(db):
    """Rule pinned: a worker that dies under a query is not the query's fault; the same query runs
    again next time (before: `crashed` was cached and returned forever)."""
    sql = rows_of(3_000_000, "x").replace("SELECT x FROM c", "SELECT count(*) FROM c")
    with make_executor(timeout_s=20) as executor:
        assert executor.execute(db, "SELECT 1").ok
        threading.Timer(0.2, executor._workers[0].proc.kill).start()
        assert executor.execute(db, sql).error_kind == CRASHED
        assert executor.execute(db, sql).rows == [(3_000_000,)]


def test_sql_given_as_bytes(db):
    """Rule pinned: bytes are decoded as UTF-8, or refused as `syntax` when they are not UTF-8; the
    worker survives either way (before: it died with a traceback, `crashed`)."""
    with make_executor(timeout_s=5) as executor:
        assert executor.execute(db, b"SELECT count(*) FROM item").rows == [(2000,)]
        pid = executor._workers[0].proc.pid
        bad = executor.execute(db, b"SELECT '\xff\xfe'")
        assert bad.error_kind == SYNTAX and "UTF-8" in bad.error
        assert executor.execute(db, "SELECT 'é'").rows == [("é",)]
        assert executor._workers[0].proc.pid == pid  # the same worker throughout
        with pytest.raises(TypeError):
            executor.execute(db, 42)


def test_denied_still_means_a_refused_query(db):
    """The hot-journal check must not swallow the authorizer's refusals."""
    with make_executor(timeout_s=5) as executor:
        assert executor.execute(db, "DELETE FROM item").error_kind == DENIED
        assert executor.execute(db, "SELECT count(*) FROM item").error_kind == OK


def test_the_library_has_no_bounds_of_its_own():
    """params.yaml's sandbox section is the one home of the bounds: the Executor and Limits take every bound
    from their caller (sandbox_executor builds them from the section), so no default can drift from it."""
    import dataclasses
    import inspect

    from sqlforge.sandbox.executor import Executor, sandbox_executor

    from conftest import repo_params

    assert all(f.default is dataclasses.MISSING for f in dataclasses.fields(Limits))
    init = inspect.signature(Executor.__init__).parameters
    bounds = ("timeout_s", "max_rows", "max_bytes", "max_cells", "memory_mb", "gold_limits", "cache_bytes")
    assert all(init[name].default is inspect.Parameter.empty for name in bounds)
    sandbox = repo_params().sandbox
    with sandbox_executor(sandbox, 1.0) as executor:
        assert executor.limits == Limits(sandbox.memory_mb, sandbox.max_rows, sandbox.max_cells,
                                         sandbox.max_result_mb << 20)
        assert executor.gold_limits == Limits(sandbox.gold_memory_mb, sandbox.gold_max_rows, sandbox.gold_max_cells,
                                              sandbox.gold_max_result_mb << 20)
        assert executor.cache_bytes == sandbox.cache_mb << 20
    with sandbox_executor(sandbox, 1.0, judging=True) as executor:  # a prediction being judged reads as a gold
        assert executor.limits.max_rows == sandbox.gold_max_rows
