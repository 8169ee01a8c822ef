"""Fuzzing the sandbox: random and mutated SQL against a real demo database.

No call may raise, hang past its bound, change the database file or create a file.
"""

import hashlib
import json
import shutil
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sqlforge.sandbox import sqlite
from conftest import make_executor

KINDS = {sqlite.OK, sqlite.SYNTAX, sqlite.RUNTIME, sqlite.TIMEOUT, sqlite.DENIED, sqlite.TOO_LARGE,
         sqlite.MULTI, sqlite.EMPTY, sqlite.CRASHED, sqlite.OUT_OF_MEMORY}
TIMEOUT_S, GRACE_S = 0.5, 0.5
KEYWORDS = ["SELECT", "FROM", "WHERE", "JOIN", "ON", "GROUP BY", "HAVING", "ORDER BY", "LIMIT", "UNION", "EXCEPT",
            "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r)", "DISTINCT", "count(*)", "AND", "OR",
            "NOT", "IN", "LIKE", "DROP TABLE", "DELETE FROM", "INSERT INTO", "UPDATE", "SET", "CREATE TABLE",
            "ATTACH DATABASE 'x.sqlite' AS y", "DETACH", "PRAGMA", "VACUUM", "load_extension('x')",
            "zeroblob(1000000000)", "printf('%.*c', 999999999, 'x')", "randomblob(99999999)", ";", "(", ")", ",",
            "*", "=", "<", "'", '"', "`", "--", "/*", "NULL", "0", "1", "-1", "3.5", "'text'", "x'00ff'"]


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_fuzzed_sql_never_crashes_hangs_or_writes(tmp_path, demo_dir):
    data = tmp_path / "data"
    shutil.copytree(demo_dir / "database" / "retail", data / "retail")
    db = data / "retail" / "retail.sqlite"
    tables = {t["db_id"]: t for t in json.loads((demo_dir / "tables.json").read_text())}["retail"]
    names = tables["table_names_original"] + [c for _, c in tables["column_names_original"][1:]]
    golds = [r["query"] for r in json.loads((demo_dir / "train_spider.json").read_text()) if r["db_id"] == "retail"]
    before, listing = sha(db), sorted(str(p) for p in data.rglob("*"))

    token = st.sampled_from(KEYWORDS + names)
    random_sql = st.lists(token, min_size=1, max_size=14).map(" ".join)
    text_noise = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)

    @st.composite
    def mutated_gold(draw):
        sql = draw(st.sampled_from(golds))
        for _ in range(draw(st.integers(1, 3))):
            i = draw(st.integers(0, len(sql)))
            j = draw(st.integers(i, min(len(sql), i + 12)))
            sql = sql[:i] + draw(st.one_of(token, text_noise)) + sql[j:]
        return sql

    executor = make_executor(timeout_s=TIMEOUT_S, kill_grace_s=GRACE_S, max_rows=2000, max_bytes=1 << 20)
    seen = set()

    @settings(max_examples=150, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(sql=st.one_of(random_sql, mutated_gold(), st.text(max_size=60)))
    def check(sql):
        start = time.monotonic()
        result = executor.execute(db, sql)
        assert time.monotonic() - start < TIMEOUT_S + GRACE_S + 1.0, sql
        assert result.error_kind in KINDS, (sql, result)
        assert result.ok or result.rows == []
        seen.add(result.error_kind)

    try:
        check()
    finally:
        executor.close()
    assert sha(db) == before
    assert sorted(str(p) for p in data.rglob("*")) == listing
    assert {sqlite.OK, sqlite.SYNTAX} <= seen  # the fuzzer reached both valid and broken SQL
