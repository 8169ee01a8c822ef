"""Hostile SQL regression: 60 attacks of our own design, each measured from outside the worker.

Per query: the database's bytes are unchanged; no file appears in the
database folder or the temp folder, and the worker opens no file while the
query runs; the call returns within timeout + 1 s; the worker's peak resident
size stays within its memory cap; and an ordinary query is answered correctly
right after. After all of them the calling process has grown by under
RSS_GROWTH_MB.
"""

import hashlib
import os
import sqlite3
import time

import pytest
from sandbox_probe import WorkerWatch, listing, own_rss_mb
from sqlforge.sandbox.sqlite import DENIED, EMPTY, MULTI, OK, OUT_OF_MEMORY, RUNTIME, SYNTAX, TIMEOUT, TOO_LARGE
from conftest import make_executor

TIMEOUT_S, GRACE_S, MEMORY_MB, RSS_GROWTH_MB = 1.0, 0.5, 256, 64  # and results capped at 16 MiB of cost
HEAVY = {TIMEOUT, OUT_OF_MEMORY, TOO_LARGE}  # where the bound hit first depends on the machine's speed
ENDLESS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"


def upto(n, select):
    return f"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {n}) SELECT {select} FROM c"


# (class, SQL with {dir} for the database folder, expected error kinds, expected rows when ok)
ATTACKS = [
    # writes
    ("write", "DROP TABLE item", {DENIED}, None),
    ("write", "DELETE FROM item WHERE 1", {DENIED}, None),
    ("write", "UPDATE item SET name = 'x'", {DENIED}, None),
    ("write", "INSERT INTO item (name) VALUES ('x')", {DENIED}, None),
    ("write", "REPLACE INTO item VALUES (1, 'x', 0)", {DENIED}, None),
    ("write", "CREATE TEMP TABLE t AS SELECT * FROM item", {DENIED}, None),
    ("write", "CREATE VIEW v AS SELECT 1", {DENIED}, None),
    ("write", "CREATE INDEX i ON item (name)", {DENIED}, None),
    ("write", "CREATE TRIGGER tr AFTER INSERT ON item BEGIN SELECT 1; END", {DENIED}, None),
    ("write", "ALTER TABLE item RENAME TO gone", {DENIED}, None),
    ("write", "WITH x AS (SELECT 1) DELETE FROM item", {DENIED}, None),
    ("write", "BEGIN IMMEDIATE", {DENIED}, None),
    ("write", "SAVEPOINT s", {DENIED}, None),
    ("write", "REINDEX", {DENIED}, None),
    ("write", "REINDEX item_name", {DENIED}, None),
    ("write", "ANALYZE", {DENIED}, None),
    # files
    ("files", "ATTACH DATABASE '{dir}/new.sqlite' AS evil", {DENIED}, None),
    ("files", "ATTACH DATABASE 'file:{dir}/x.sqlite?mode=rwc' AS x", {DENIED}, None),
    ("files", "ATTACH DATABASE ':memory:' AS m", {DENIED}, None),
    ("files", "VACUUM INTO '{dir}/copy.sqlite'", {DENIED}, None),
    ("files", "VACUUM", {DENIED}, None),
    ("files", "SELECT load_extension('{dir}/evil.so')", {DENIED}, None),
    ("files", "SELECT readfile('/etc/passwd')", {DENIED, RUNTIME}, None),
    ("files", "SELECT writefile('{dir}/out.txt', 'data')", {DENIED, RUNTIME}, None),
    ("files", "PRAGMA journal_mode = WAL", {DENIED}, None),
    ("files", "PRAGMA temp_store = FILE", {DENIED}, None),
    ("files", "PRAGMA temp_store_directory = '{dir}'", {DENIED}, None),
    ("files", "PRAGMA writable_schema = ON", {DENIED}, None),
    ("files", "PRAGMA mmap_size = 268435456", {DENIED}, None),
    # memory
    ("memory", "SELECT zeroblob(400000000)", {TOO_LARGE}, None),
    ("memory", "SELECT zeroblob(10000000), zeroblob(10000000)", {TOO_LARGE}, None),
    ("memory", "SELECT randomblob(15000000) || randomblob(15000000)", {TOO_LARGE}, None),
    ("memory", "SELECT length(replace(printf('%.*c', 9000000, 'x'), 'x', 'xx'))", {TOO_LARGE}, None),
    ("memory", "WITH RECURSIVE c(x, s) AS (SELECT 1, 'a' UNION ALL SELECT x + 1, s || s FROM c WHERE x < 40) "
               "SELECT max(length(s)) FROM c", {TOO_LARGE}, None),
    ("memory", "SELECT length(group_concat(a.name || b.name)) FROM item a, item b", HEAVY, None),
    ("memory", "SELECT a.name, b.name FROM item a, item b ORDER BY b.name || a.id", HEAVY, None),
    # three-way: 8e9 distinct rows, which no machine finishes within the timeout or the memory cap (two-way
    # finished in 0.9 s on a fast core)
    ("memory", "SELECT count(*) FROM (SELECT DISTINCT (a.id * 2000 + b.id) * 2000 + c.id, a.name || b.name FROM item a, item b, item c)",
     HEAVY, None),
    ("memory", "SELECT count(*) FROM (SELECT a.name || b.name || c.name AS k FROM item a, item b, item c "
               "GROUP BY k)", HEAVY, None),
    # CPU
    ("cpu", ENDLESS, {TIMEOUT}, None),
    ("cpu", "SELECT count(*) FROM item a, item b, item c, item d", {TIMEOUT}, None),
    ("cpu", "SELECT instr(printf('%.*c', 1000000, 'a'), printf('%.*c', 200000, 'a') || 'b')", {TIMEOUT}, None),
    ("cpu", "SELECT count(*) FROM item a, item b, item c WHERE a.name LIKE '%' || b.name || c.name || '%'",
     {TIMEOUT}, None),
    ("cpu", "SELECT sum(length(hex(randomblob(1000000)))) FROM item", {TIMEOUT}, None),
    # parser tricks
    ("parser", "SELECT 1; DROP TABLE item", {MULTI}, None),
    ("parser", "SELECT 1;;", {MULTI, OK}, [(1,)]),
    ("parser", "/* hidden */ DROP TABLE item", {DENIED}, None),
    ("parser", "SELECT 1 -- ; DROP TABLE item", {OK}, [(1,)]),
    ("parser", "SELECT " + "(" * 50_000 + "1" + ")" * 50_000, {RUNTIME, SYNTAX}, None),
    ("parser", "SELECT " + "1 + " * 50_000 + "1", {RUNTIME}, None),
    ("parser", "   \n\t ", {EMPTY}, None),
    ("parser", "-- only a comment", {OK}, []),
    ("parser", "SELECT 1\x00; DROP TABLE item", {RUNTIME}, None),
    ("parser", "SELEC name FROM item", {SYNTAX}, None),
    # encoding
    ("encoding", "SELECT '\ud800'", {RUNTIME}, None),
    ("encoding", b"SELECT '\xff\xfe'", {SYNTAX}, None),
    ("encoding", "SELECT 'caf\u00e9' || '\U0001F600'".encode(), {OK}, [("caf\u00e9\U0001F600",)]),
    ("encoding", "SELECT CAST(x'fffe41' AS TEXT)", {OK}, [("\ufffd\ufffdA",)]),
    ("encoding", "SELECT length(char(1114111, 55296))", {OK}, [(2,)]),
    # result size
    ("size", "SELECT * FROM item a, item b", {TOO_LARGE}, None),
    ("size", upto(9999, ", ".join(["'\u20ac'"] * 1600)), {TOO_LARGE}, None),
    ("size", "SELECT a.*, b.* FROM item a, item b LIMIT 10001", {TOO_LARGE}, None),
    ("size", upto(5000, "printf('%.*c', 4000, 'x')"), {TOO_LARGE}, None),
]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    folder, tmp = root / "db", root / "tmp"
    folder.mkdir()
    tmp.mkdir()
    db = folder / "shop.sqlite"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT, price REAL)")
    conn.executemany("INSERT INTO item VALUES (?, ?, ?)", [(i, f"item{i:05d}", i * 1.5) for i in range(2000)])
    conn.execute("CREATE INDEX item_name ON item (name)")  # something for REINDEX to rewrite
    conn.commit()
    conn.close()
    saved = {k: os.environ.get(k) for k in ("TMPDIR", "SQLITE_TMPDIR")}
    os.environ.update(TMPDIR=str(tmp), SQLITE_TMPDIR=str(tmp))  # the workers' temp folder, watched
    executor = make_executor(timeout_s=TIMEOUT_S, kill_grace_s=GRACE_S, memory_mb=MEMORY_MB, max_bytes=16 << 20)
    state = {"db": db, "tmp": tmp, "executor": executor, "sha": hashlib.sha256(db.read_bytes()).hexdigest(),
             "listing": listing(folder, tmp), "rss_mb": own_rss_mb(), "normal": 0}
    yield state
    executor.close()
    for k, v in saved.items():
        os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)


@pytest.mark.parametrize("kind,sql,expected,rows", ATTACKS, ids=[f"{i:02d}-{a[0]}" for i, a in enumerate(ATTACKS)])
def test_hostile_query_is_contained(sandbox, kind, sql, expected, rows):
    db, executor = sandbox["db"], sandbox["executor"]
    sql = sql.format(dir=db.parent) if isinstance(sql, str) else sql
    sandbox["normal"] += 1
    executor.execute(db, f"SELECT {sandbox['normal']}")  # a live worker to watch
    with WorkerWatch(executor._workers[0].proc.pid) as watch:
        start = time.monotonic()
        result = executor.execute(db, sql)
        elapsed = time.monotonic() - start
    assert result.error_kind in expected, (result.error_kind, result.error)
    assert result.rows == (rows if result.ok else [])
    assert elapsed < TIMEOUT_S + 1.0
    assert max(watch.peak_kb, executor.worker_peak_kb) <= MEMORY_MB << 10
    assert watch.new_disk_files() == set()
    assert hashlib.sha256(db.read_bytes()).hexdigest() == sandbox["sha"]
    assert listing(db.parent, sandbox["tmp"]) == sandbox["listing"]
    k = sandbox["normal"]
    assert executor.execute(db, f"SELECT count(*), sum(id) FROM item WHERE id < {k}").rows == [(k, k * (k - 1) // 2)]


def test_caller_memory_after_all_attacks(sandbox):
    """Rule pinned: refused and cached results leave the calling process within RSS_GROWTH_MB."""
    assert sandbox["normal"] == len(ATTACKS)  # ran after every attack
    assert own_rss_mb() - sandbox["rss_mb"] < RSS_GROWTH_MB
    assert sandbox["executor"].execute(sandbox["db"], "SELECT name FROM item WHERE id = 7").rows == [("item00007",)]


def test_read_only_table_functions_run_and_writes_stay_denied(tmp_path):
    """Decided: table-valued functions that only read are allowed (json_each, json_tree, FTS5 queries and the
    pragma_* functions of the introspection pragmas); pragma assignments, pragmas outside that list (even as
    functions: pragma_integrity_check can run for long; pragma_database_list shows the file path) and every
    write stay denied. Before, each of these reads was refused."""
    from sqlforge.sandbox.sqlite import DENIED, OK, open_readonly, run_query

    db = tmp_path / "fts.sqlite"
    conn = sqlite3.connect(db)
    conn.executescript("CREATE TABLE customer (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO customer VALUES (1, 'ann');"
                       "CREATE VIRTUAL TABLE notes USING fts5(body); INSERT INTO notes VALUES ('hello world');")
    conn.close()
    ro = open_readonly(db)
    reads = {"SELECT value FROM json_each('[1, 2]')": [(1,), (2,)],
             "SELECT key FROM json_tree('{\"a\": 1}') WHERE key = 'a'": [("a",)],
             "SELECT name FROM pragma_table_info('customer')": [("id",), ("name",)],
             "SELECT count(*) FROM pragma_foreign_key_list('customer')": [(0,)],
             "SELECT * FROM pragma_user_version": [(0,)],
             "SELECT body FROM notes WHERE notes MATCH 'hello'": [("hello world",)]}
    for sql, rows in reads.items():
        result = run_query(ro, sql, 5.0, 100, 1 << 20)
        assert (result.error_kind, result.rows) == (OK, rows), (sql, result.error)
    for sql in ("PRAGMA user_version = 3", "SELECT * FROM pragma_integrity_check",
                "SELECT * FROM pragma_database_list", "PRAGMA journal_mode = WAL", "UPDATE sqlite_master SET name = 'x'",
                "UPDATE customer SET name = 'x'", "INSERT INTO notes VALUES ('x')", "DELETE FROM notes",
                "INSERT INTO notes(notes) VALUES ('optimize')", "CREATE TABLE x (a)"):
        assert run_query(ro, sql, 5.0, 100, 1 << 20).error_kind == DENIED, sql
    ro.close()
