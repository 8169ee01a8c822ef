"""One query on one read-only SQLite connection, in the calling process: how a database is opened
(read-only, immutable, an authorizer that allows only reading), how a query is run against a deadline and
result caps, and the ExecResult every caller gets back with its classified `error_kind`. The worker
(sandbox.worker) runs this; the Executor (sandbox.executor) owns the workers."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlforge.io import InputError

# error kinds the stages count
OK, SYNTAX, RUNTIME, TIMEOUT, DENIED, TOO_LARGE, MULTI, EMPTY, CRASHED, OUT_OF_MEMORY = (
    "ok", "syntax", "runtime", "timeout", "denied", "too_large", "multiple_statements", "empty", "crashed",
    "out_of_memory")

_ALLOWED_ACTIONS = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION}
_ALLOWED_ACTIONS.add(getattr(sqlite3, "SQLITE_RECURSIVE", 33))
_DENIED_FUNCTIONS = {"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer"}
# pragmas that only read, as statements (`PRAGMA table_info(t)`) or as table-valued functions
# (`SELECT * FROM pragma_table_info('t')`): these take the name of what they describe ...
_READ_PRAGMAS = {"table_info", "table_xinfo", "foreign_key_list", "index_list", "index_info", "index_xinfo"}
# ... and these take no argument at all (given a value, `user_version` or `page_size` would set it)
_VALUE_PRAGMAS = {"collation_list", "function_list", "module_list", "pragma_list",
                  "compile_options", "user_version", "schema_version", "application_id", "data_version",
                  "page_count", "page_size", "freelist_count", "encoding"}
# a table-valued function (json_each, pragma_*) or a virtual table (FTS) declares its columns by parsing
# a CREATE TABLE, which SQLite authorizes as SQLITE_UPDATE of sqlite_master's columns; no statement can
# change sqlite_master itself ("may not be modified"; writable_schema is a pragma, denied), so it is let through
_SCHEMA_TABLES = {"sqlite_master", "sqlite_temp_master"}
_PROGRESS_STEPS = 1000

# What a result costs in memory, counted while it is read: a row is a tuple in a list, a cell a Python
# object (a str's header is 49-80 bytes) plus its payload, text counted in UTF-8 bytes (never fewer
# than CPython's own 1, 2 or 4 bytes per character, except Latin-1 text, which the header absorbs).
# tests/test_sandbox_limits.py checks this is an upper bound of what tracemalloc sees.
ROW_OVERHEAD, CELL_OVERHEAD, NUMBER_BYTES = 64, 80, 8


@dataclass
class ExecResult:
    rows: list[tuple] = field(default_factory=list)
    error_kind: str = OK
    error: str = ""
    seconds: float = 0.0
    nbytes: int = 0  # row_cost() of all rows: what the result holds in memory, an upper bound
    columns: list[str] = field(default_factory=list)  # result column names (revision feedback shows them)

    @property
    def ok(self) -> bool:
        return self.error_kind == OK


def row_cost(row: tuple) -> int:
    size = ROW_OVERHEAD + CELL_OVERHEAD * len(row)
    for v in row:
        if isinstance(v, str):
            size += len(v) if v.isascii() else len(v.encode("utf-8", "surrogatepass"))
        elif isinstance(v, bytes):
            size += len(v)
        elif v is not None:
            size += NUMBER_BYTES
    return size


def _authorizer(action, arg1, arg2, db_name, trigger):
    if action == sqlite3.SQLITE_PRAGMA:
        # schema introspection only, and never a pragma assignment
        name = (arg1 or "").lower()
        ok = (name in _READ_PRAGMAS and arg2 is not None) or (name in _VALUE_PRAGMAS and arg2 is None)
        return sqlite3.SQLITE_OK if ok else sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_UPDATE and (arg1 or "").lower() in _SCHEMA_TABLES:
        return sqlite3.SQLITE_OK
    if action not in _ALLOWED_ACTIONS:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in _DENIED_FUNCTIONS:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def database_problem(path: Path) -> str | None:
    """Why the database file cannot be read as it stands, or None.

    It is opened `immutable`, so SQLite creates no -wal/-shm/-journal beside it
    but would also silently ignore a journal or log holding part of its
    content: those are refused here instead.
    """
    journal = path.with_name(path.name + "-journal")
    if journal.is_file() and journal.stat().st_size > 0:
        with open(journal, "rb") as f:
            if any(f.read(28)):  # a zeroed header is a finished (persisted) journal, not a hot one
                return (f"leftover hot journal {journal.name} (a write was interrupted); open the database "
                        "once with sqlite3 where it may be written to roll it back")
    wal = path.with_name(path.name + "-wal")
    if wal.is_file() and wal.stat().st_size > 0:
        return (f"write-ahead log {wal.name} holds changes not yet in the database; "
                "checkpoint it with sqlite3 (PRAGMA wal_checkpoint(TRUNCATE))")
    return None


def check_database(db_path: str | Path) -> Path:
    """The resolved path of a readable database; FileNotFoundError or InputError (one line) otherwise."""
    path = Path(db_path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"database not found: {path}")
    problem = database_problem(path)
    if problem:
        raise InputError(f"{path}: {problem}")
    return path


def open_readonly(db_path: str | Path) -> sqlite3.Connection:
    path = check_database(db_path)
    # immutable: no locks and no -wal/-shm files, even for a WAL database in a writable folder
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro&immutable=1", uri=True, check_same_thread=False)
    conn.execute("PRAGMA query_only = ON")
    conn.execute("PRAGMA temp_store = MEMORY")  # sorts and temp tables in (capped) memory, never in files
    conn.text_factory = lambda b: b.decode("utf-8", errors="replace")
    conn.set_authorizer(_authorizer)
    return conn


def _classify(exc: BaseException) -> str:
    if isinstance(exc, MemoryError):
        return OUT_OF_MEMORY
    msg = str(exc).lower()
    if "interrupted" in msg:
        return TIMEOUT
    if "out of memory" in msg:
        return OUT_OF_MEMORY
    if "too big" in msg:  # SQLITE_LIMIT_LENGTH: a string or blob over the result byte cap
        return TOO_LARGE
    if ("not authorized" in msg or "authorization denied" in msg or "prohibited" in msg or "readonly" in msg
            or "read-only" in msg or "may not be modified" in msg):
        return DENIED
    if "one statement at a time" in msg:
        return MULTI
    if "syntax error" in msg or "incomplete input" in msg or "unrecognized token" in msg:
        return SYNTAX
    return RUNTIME


def run_query(conn: sqlite3.Connection, sql: str, timeout: float, max_rows: int, max_bytes: int,
              max_cells: int | None = None) -> ExecResult:
    """Run one query on a sandboxed connection, in this process.

    The result is read row by row and refused (`too_large`) as soon as it passes
    max_rows, max_cells or max_bytes (row_cost); no string or blob may exceed
    max_bytes even inside SQLite (SQLITE_LIMIT_LENGTH)."""
    if not sql or not sql.strip():
        return ExecResult(error_kind=EMPTY, error="empty query")
    max_cells = max_cells or max_rows * 1000
    start = time.monotonic()
    deadline = start + timeout
    conn.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, _PROGRESS_STEPS)
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, min(max_bytes, 1_000_000_000))
    try:
        cursor = conn.execute(sql)
        rows, size, cells = [], 0, 0
        for row in cursor:
            size += row_cost(row)
            cells += len(row)
            if len(rows) >= max_rows or size > max_bytes or cells > max_cells:
                cursor.close()
                return ExecResult(error_kind=TOO_LARGE, seconds=time.monotonic() - start,
                                  error=f"result over {max_rows} rows, {max_cells} cells or {max_bytes} bytes")
            rows.append(row)
        columns = [d[0] for d in cursor.description or ()]
        return ExecResult(rows=rows, seconds=time.monotonic() - start, nbytes=size, columns=columns)
    except (sqlite3.Error, sqlite3.Warning, OverflowError, ValueError, MemoryError) as exc:
        rows = None  # let a half-read result go before anything else is allocated
        kind = _classify(exc)
        msg = {TIMEOUT: f"timed out after {timeout:g} s",
               OUT_OF_MEMORY: "query needed more memory than the sandbox allows"}.get(kind, str(exc))
        return ExecResult(error_kind=kind, error=msg, seconds=time.monotonic() - start)
    finally:
        conn.set_progress_handler(None, 0)


@dataclass
class TimingResult:
    """Seconds of each paired run of a prediction and its gold (`time_pair`), or why the measurement stopped."""
    pred_seconds: list[float] = field(default_factory=list)
    gold_seconds: list[float] = field(default_factory=list)
    error_kind: str = OK
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.error_kind == OK


def _timed_run(db_path: str | Path, sql: str, style: str, deadline: float) -> float:
    """One run on a fresh sandboxed connection (opening it is not timed, as the official opens it before its
    clock starts). "execute": the statement's first step, as `cursor.execute` alone; "fetch": execute, every
    row fetched, and the connection closed, all timed."""
    conn = open_readonly(db_path)
    conn.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, _PROGRESS_STEPS)
    try:
        if style == "execute":
            start = time.perf_counter()
            conn.execute(sql)
            return time.perf_counter() - start
        start = time.perf_counter()
        conn.execute(sql).fetchall()
        conn.close()
        return time.perf_counter() - start
    finally:
        conn.close()


def time_pair(db_path: str | Path, pred_sql: str, gold_sql: str, runs: int, budget_s: float,
              style: str) -> TimingResult:
    """`runs` paired runs, each the prediction then the gold, one query at a time in this process, as the
    official `iterated_execute_sql` does; the whole measurement stops (`timeout`) past `budget_s`."""
    deadline = time.monotonic() + budget_s
    out = TimingResult()
    try:
        for _ in range(runs):
            out.pred_seconds.append(_timed_run(db_path, pred_sql, style, deadline))
            out.gold_seconds.append(_timed_run(db_path, gold_sql, style, deadline))
            if time.monotonic() > deadline:
                raise sqlite3.OperationalError("interrupted")
    except (sqlite3.Error, sqlite3.Warning, OverflowError, ValueError, MemoryError) as exc:
        kind = _classify(exc)
        return TimingResult(out.pred_seconds, out.gold_seconds, kind,
                            f"timing stopped after {budget_s:g} s" if kind == TIMEOUT else str(exc))
    return out
