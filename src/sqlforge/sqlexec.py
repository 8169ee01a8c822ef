"""Sandboxed execution of model-written SQL against SQLite databases.

Guarantees (see docs/sandbox.md): the connection is opened read-only
(`mode=ro` and `PRAGMA query_only`), an authorizer denies every action but
reading, a progress handler aborts a query past its deadline, results are
capped in rows and bytes, and only one statement runs. Queries run in worker
processes, and a worker whose query outlives its deadline is killed. Every
refusal comes back as an ExecResult with a classified `error_kind`, never as
an exception.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Sequence

# error kinds the stages count
OK, SYNTAX, RUNTIME, TIMEOUT, DENIED, TOO_LARGE, MULTI, EMPTY, CRASHED = (
    "ok", "syntax", "runtime", "timeout", "denied", "too_large", "multiple_statements", "empty", "crashed")

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
    columns: list[str] = field(default_factory=list)  # result column names (for display; no verdict uses them)

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


def run_query(conn: sqlite3.Connection, sql: str, timeout: float, max_rows: int, max_bytes: int) -> ExecResult:
    """Run one query on a sandboxed connection, in this process."""
    if not sql or not sql.strip():
        return ExecResult(error_kind=EMPTY, error="empty query")
    start = time.monotonic()
    deadline = start + timeout
    conn.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, _PROGRESS_STEPS)
    try:
        cursor = conn.execute(sql)
        columns = [d[0] for d in cursor.description or ()]
        rows, size = [], 0
        for row in cursor:
            size += sum(len(v) if isinstance(v, (str, bytes)) else 8 for v in row)
            if len(rows) >= max_rows or size > max_bytes:
                cursor.close()
                return ExecResult(error_kind=TOO_LARGE, error=f"result over {max_rows} rows or {max_bytes} bytes",
                                  seconds=time.monotonic() - start)
            rows.append(tuple(row))
        return ExecResult(rows=rows, seconds=time.monotonic() - start, columns=columns)
    except (sqlite3.Error, sqlite3.Warning, OverflowError, ValueError, MemoryError) as exc:
        kind = _classify(exc)
        msg = f"timed out after {timeout:g} s" if kind == TIMEOUT else str(exc)
        return ExecResult(error_kind=kind, error=msg, seconds=time.monotonic() - start)
    finally:
        conn.set_progress_handler(None, 0)


class _Worker:
    """A child process that runs queries; killed when one overruns its deadline.

    Started with `python -m sqlforge.sqlexec` (not multiprocessing's spawn), so the
    child never re-imports the calling stage and its torch.
    """

    def __init__(self):
        parent_r, child_w = os.pipe()
        child_r, parent_w = os.pipe()
        package_root = str(Path(__file__).resolve().parents[1])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
        self.proc = subprocess.Popen([sys.executable, "-m", "sqlforge.sqlexec", str(child_r), str(child_w)],
                                     pass_fds=(child_r, child_w), env=env, stdin=subprocess.DEVNULL)
        os.close(child_r)
        os.close(child_w)
        self.recv_conn = Connection(parent_r, writable=False)
        self.send_conn = Connection(parent_w, readable=False)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self.recv_conn.close()
        self.send_conn.close()


def _worker_main(read_fd: int, write_fd: int) -> None:
    requests, replies = Connection(read_fd, writable=False), Connection(write_fd, readable=False)
    conns: dict[str, sqlite3.Connection] = {}
    while True:
        try:
            db_path, sql, timeout, max_rows, max_bytes = requests.recv()
        except EOFError:  # the parent went away
            return
        conn = conns.get(db_path) or conns.setdefault(db_path, open_readonly(db_path))
        result = run_query(conn, sql, timeout, max_rows, max_bytes)
        # plain tuple: in this process the module is __main__, so its classes would not unpickle
        replies.send((result.rows, result.error_kind, result.error, result.seconds, result.columns))


class Executor:
    """Runs queries in `workers` sandbox processes, each with cached read-only connections.

    A query that overruns its timeout is first interrupted by SQLite's progress
    handler; if its worker has not answered `kill_grace_s` later, the worker is
    killed (and replaced on the next query). Identical (database, SQL, timeout)
    queries run once per Executor: results are cached.
    """

    def __init__(self, timeout_s: float = 30.0, max_rows: int = 10_000, max_bytes: int = 16 << 20,
                 workers: int = 1, kill_grace_s: float = 0.5):
        self.timeout_s = timeout_s
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self.kill_grace_s = kill_grace_s
        self._workers: list[_Worker | None] = [None] * max(1, workers)
        self._cache: dict[tuple[str, str, float], ExecResult] = {}
        self.calls = 0  # queries actually run (cache misses)
        self.killed = 0  # workers killed at a hard deadline

    def execute(self, db_path: str | Path, sql: str, timeout_s: float | None = None) -> ExecResult:
        return self.execute_many([(db_path, sql, timeout_s)])[0]

    def execute_many(self, queries: Sequence[tuple], progress=None) -> list[ExecResult]:
        """Results for (db_path, sql[, timeout_s]) queries, in order, run across the workers."""
        keys = []
        for query in queries:
            db_path, sql = str(query[0]), query[1]
            timeout = query[2] if len(query) > 2 and query[2] is not None else self.timeout_s
            if not Path(db_path).is_file():
                raise FileNotFoundError(f"database not found: {Path(db_path).resolve()}")
            keys.append((db_path, sql, timeout))
        todo = deque(dict.fromkeys(k for k in keys if k not in self._cache))
        for key in list(todo):
            if not key[1] or not key[1].strip():
                self._cache[key] = ExecResult(error_kind=EMPTY, error="empty query")
                todo.remove(key)
        self._dispatch(todo, progress)
        return [self._cache[k] for k in keys]

    def _dispatch(self, todo: deque, progress) -> None:
        busy: dict[int, tuple[tuple, float, float]] = {}  # worker slot -> (key, start, hard deadline)
        while todo or busy:
            for slot in range(len(self._workers)):
                if slot in busy or not todo:
                    continue
                key = todo.popleft()
                self._send(slot, (*key, self.max_rows, self.max_bytes))
                now = time.monotonic()
                busy[slot] = (key, now, now + key[2] + self.kill_grace_s)
            by_conn = {self._workers[s].recv_conn: s for s in busy}
            wait_s = max(0.0, min(d for _, _, d in busy.values()) - time.monotonic())
            for conn in wait(list(by_conn), timeout=wait_s):
                slot = by_conn[conn]
                key, start, _ = busy.pop(slot)
                try:
                    self._cache[key] = ExecResult(*conn.recv())
                except (EOFError, OSError):  # the worker died (out of memory, a crash in SQLite)
                    self._replace(slot)
                    self._cache[key] = ExecResult(error_kind=CRASHED, error="sandbox worker died",
                                                  seconds=time.monotonic() - start)
                self.calls += 1
                if progress:
                    progress(1)
            now = time.monotonic()
            for slot, (key, start, deadline) in list(busy.items()):
                if now >= deadline:  # the progress handler did not stop it: kill the worker
                    busy.pop(slot)
                    self._replace(slot)
                    self.killed += 1
                    self.calls += 1
                    self._cache[key] = ExecResult(error_kind=TIMEOUT, seconds=now - start,
                                                  error=f"timed out after {key[2]:g} s (worker killed)")
                    if progress:
                        progress(1)

    def _send(self, slot: int, request: tuple) -> None:
        for attempt in range(2):
            if self._workers[slot] is None:
                self._workers[slot] = _Worker()
            try:
                self._workers[slot].send_conn.send(request)
                return
            except OSError:  # the worker died while idle: start another
                self._replace(slot)
        raise RuntimeError("could not start a sandbox worker process")

    def _replace(self, slot: int) -> None:
        worker = self._workers[slot]
        if worker is not None:
            worker.kill()
        self._workers[slot] = None  # started again when next needed

    def close(self) -> None:
        for slot in range(len(self._workers)):
            self._replace(slot)

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass


if __name__ == "__main__":
    _worker_main(int(sys.argv[1]), int(sys.argv[2]))
