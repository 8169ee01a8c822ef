"""Sandboxed execution of model-written SQL against SQLite databases.

Guarantees (see docs/sandbox.md): the connection is opened read-only
(`mode=ro` and `PRAGMA query_only`), an authorizer denies every action but
reading, a progress handler aborts a query past its deadline, results are
capped in rows and bytes, and only one statement runs. Every refusal comes
back as an ExecResult with a classified `error_kind`, never as an exception.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

# error kinds the stages count
OK, SYNTAX, RUNTIME, TIMEOUT, DENIED, TOO_LARGE, MULTI, EMPTY = (
    "ok", "syntax", "runtime", "timeout", "denied", "too_large", "multiple_statements", "empty")

_ALLOWED_ACTIONS = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION}
_ALLOWED_ACTIONS.add(getattr(sqlite3, "SQLITE_RECURSIVE", 33))
_DENIED_FUNCTIONS = {"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer"}
_READ_PRAGMAS = {"table_info", "table_xinfo", "foreign_key_list", "index_list", "index_info"}
_PROGRESS_STEPS = 1000


@dataclass
class ExecResult:
    rows: list[tuple] = field(default_factory=list)
    error_kind: str = OK
    error: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error_kind == OK


def _authorizer(action, arg1, arg2, db_name, trigger):
    if action == sqlite3.SQLITE_PRAGMA:
        # schema introspection only, and never a pragma assignment
        ok = (arg1 or "").lower() in _READ_PRAGMAS and arg2 is not None
        return sqlite3.SQLITE_OK if ok else sqlite3.SQLITE_DENY
    if action not in _ALLOWED_ACTIONS:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in _DENIED_FUNCTIONS:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def open_readonly(db_path: str | Path) -> sqlite3.Connection:
    path = Path(db_path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"database not found: {path}")
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, check_same_thread=False)
    conn.execute("PRAGMA query_only = ON")
    conn.text_factory = lambda b: b.decode("utf-8", errors="replace")
    conn.set_authorizer(_authorizer)
    return conn


def _classify(exc: Exception) -> str:
    msg = str(exc).lower()
    if "interrupted" in msg:
        return TIMEOUT
    if "not authorized" in msg or "authorization denied" in msg or "prohibited" in msg or "readonly" in msg or "read-only" in msg:
        return DENIED
    if "one statement at a time" in msg:
        return MULTI
    if "syntax error" in msg or "incomplete input" in msg or "unrecognized token" in msg:
        return SYNTAX
    return RUNTIME


class Executor:
    """Runs queries with one cached read-only connection per database.

    Identical (database, SQL) pairs run once per Executor: results are cached.
    """

    def __init__(self, timeout_s: float = 30.0, max_rows: int = 10_000, max_bytes: int = 16 << 20):
        self.timeout_s = timeout_s
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self._conns: dict[str, sqlite3.Connection] = {}
        self._cache: dict[tuple[str, str, float], ExecResult] = {}
        self.calls = 0

    def _conn(self, db_path: str) -> sqlite3.Connection:
        conn = self._conns.get(db_path)
        if conn is None:
            conn = self._conns[db_path] = open_readonly(db_path)
        return conn

    def execute(self, db_path: str | Path, sql: str, timeout_s: float | None = None) -> ExecResult:
        timeout = self.timeout_s if timeout_s is None else timeout_s
        key = (str(db_path), sql, timeout)
        cached = self._cache.get(key)
        if cached is None:
            cached = self._cache[key] = self._run(str(db_path), sql, timeout)
            self.calls += 1
        return cached

    def _run(self, db_path: str, sql: str, timeout: float) -> ExecResult:
        if not sql or not sql.strip():
            return ExecResult(error_kind=EMPTY, error="empty query")
        conn = self._conn(db_path)
        start = time.monotonic()
        deadline = start + timeout
        conn.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, _PROGRESS_STEPS)
        try:
            cursor = conn.execute(sql)
            rows, size = [], 0
            for row in cursor:
                size += sum(len(v) if isinstance(v, (str, bytes)) else 8 for v in row)
                if len(rows) >= self.max_rows or size > self.max_bytes:
                    cursor.close()
                    return ExecResult(error_kind=TOO_LARGE, error=f"result over {self.max_rows} rows or "
                                      f"{self.max_bytes} bytes", seconds=time.monotonic() - start)
                rows.append(tuple(row))
            return ExecResult(rows=rows, seconds=time.monotonic() - start)
        except (sqlite3.Error, sqlite3.Warning, OverflowError, ValueError, MemoryError) as exc:
            kind = _classify(exc)
            if kind == TIMEOUT:
                msg = f"timed out after {timeout:g} s"
            else:
                msg = str(exc)
            return ExecResult(error_kind=kind, error=msg, seconds=time.monotonic() - start)
        finally:
            conn.set_progress_handler(None, 0)

    def close(self) -> None:
        for conn in self._conns.values():
            conn.close()
        self._conns.clear()
