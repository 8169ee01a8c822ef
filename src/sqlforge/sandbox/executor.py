"""Sandboxed execution of model-written SQL against SQLite databases.

Guarantees (see docs/sandbox.md): the connection is opened read-only and
immutable (`mode=ro&immutable=1`, `PRAGMA query_only`), keeps temporary data in
memory, and an authorizer denies every action but reading; a progress handler
aborts a query past its deadline; results are capped in rows, cells and bytes
(`Limits`); only one statement runs. Queries run in worker processes
(sqlforge.sandbox.worker) whose address space is capped and which die with their
parent; a worker whose query outlives its deadline is killed. Every refusal
comes back as an ExecResult with a classified `error_kind`, never as an
exception; a database that cannot be read as it is (a leftover hot journal,
an uncheckpointed write-ahead log) raises InputError.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from multiprocessing.connection import wait
from pathlib import Path
from typing import Sequence

from sqlforge.sandbox.sqlite import (CRASHED, EMPTY, OUT_OF_MEMORY, ROW_OVERHEAD, SYNTAX, TIMEOUT, ExecResult,
                                     TimingResult, check_database)
from sqlforge.sandbox.worker import TIME_PAIR, Worker

# how long a worker whose query passed its deadline may take to answer before it is killed: the progress
# handler interrupts SQLite within milliseconds, so only a worker stuck outside SQLite waits this long
KILL_GRACE_S = 0.5


@dataclass(frozen=True)
class Limits:
    """What one query may use: worker address space, and the size of its result (params.yaml's sandbox
    section sets every bound; nothing here has a default)."""
    memory_mb: int
    max_rows: int
    max_cells: int
    max_bytes: int  # row_cost() of all rows

    def __post_init__(self):
        for name in ("memory_mb", "max_rows", "max_cells", "max_bytes"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"Limits.{name} must be a positive integer, got {getattr(self, name)!r}")
        if self.memory_mb < 64:
            raise ValueError(f"Limits.memory_mb must be at least 64 (a worker's own size), got {self.memory_mb}")


def gold_limits(sandbox) -> Limits:
    """Golds are trusted (the official evaluators compare their full results) but still bounded."""
    return Limits(memory_mb=sandbox.gold_memory_mb, max_rows=sandbox.gold_max_rows,
                  max_cells=sandbox.gold_max_cells, max_bytes=sandbox.gold_max_result_mb << 20)


def sandbox_executor(sandbox, timeout_s: float, workers: int = 1, judging: bool = False) -> "Executor":
    """The Executor the `sandbox` params section describes (config.SandboxConfig). `judging`: a prediction
    being scored may return as many rows as a gold (the official scripts compare full results); its
    memory and result cost stay bounded."""
    return Executor(timeout_s=timeout_s, workers=workers,
                    max_rows=sandbox.gold_max_rows if judging else sandbox.max_rows,
                    max_bytes=sandbox.max_result_mb << 20, max_cells=sandbox.max_cells,
                    memory_mb=sandbox.memory_mb, gold_limits=gold_limits(sandbox), cache_bytes=sandbox.cache_mb << 20)


class Executor:
    """Runs queries in `workers` sandbox processes (sqlforge.sandbox.worker), each with cached read-only connections.

    A query that overruns its timeout is first interrupted by SQLite's progress
    handler; if its worker has not answered `kill_grace_s` later, the worker is
    killed (and replaced on the next query). Predictions run under `memory_mb`,
    `max_rows`, `max_cells` and `max_bytes`; trusted golds (`trusted=True`) under
    `gold_limits`. Identical (database, SQL, timeout, trusted) queries run once
    while their result stays in the cache, which is least-recently-used and
    bounded by `cache_bytes` of result cost; a `crashed` result is never cached.
    """

    def __init__(self, *, timeout_s: float, max_rows: int, max_bytes: int, max_cells: int, memory_mb: int,
                 gold_limits: Limits, cache_bytes: int, workers: int = 1, kill_grace_s: float = KILL_GRACE_S):
        self.timeout_s = timeout_s
        self.limits = Limits(memory_mb=memory_mb, max_rows=max_rows, max_cells=max_cells, max_bytes=max_bytes)
        self.gold_limits = gold_limits
        self.kill_grace_s = kill_grace_s
        self.cache_bytes = cache_bytes
        self.workers = max(1, workers)
        self._workers: list[Worker | None] = [None] * self.workers
        self._cache: OrderedDict[tuple, tuple[ExecResult, int]] = OrderedDict()  # key -> (result, cost)
        self.cache_used_bytes = 0
        self._checked_dbs: set[str] = set()
        self.calls = 0  # queries actually run (cache misses)
        self.killed = 0  # workers killed at a hard deadline
        self.worker_peak_kb = 0  # the largest peak resident size (VmHWM) a worker reported
        self.timed_runs = 0  # paired timing runs done (time_pairs)

    def execute(self, db_path: str | Path, sql: str | bytes, timeout_s: float | None = None,
                trusted: bool = False) -> ExecResult:
        return self.execute_many([(db_path, sql, timeout_s)], trusted=trusted)[0]

    def execute_many(self, queries: Sequence[tuple], progress=None, trusted: bool = False) -> list[ExecResult]:
        """Results for (db_path, sql[, timeout_s]) queries, in order, run across the workers.

        `trusted` runs them (gold SQL) under gold_limits. SQL given as bytes is decoded as UTF-8
        (`syntax` if it is not). Raises FileNotFoundError for a missing database and InputError
        for one that cannot be read as it is."""
        keys, done = [], {}
        for query in queries:
            db_path, sql = str(query[0]), query[1]
            timeout = query[2] if len(query) > 2 and query[2] is not None else self.timeout_s
            if db_path not in self._checked_dbs:
                check_database(db_path)
                self._checked_dbs.add(db_path)
            key = (db_path, sql, timeout, trusted)
            keys.append(key)
            if key in done:
                continue
            if key in self._cache:
                self._cache.move_to_end(key)
                done[key] = self._cache[key][0]
            elif (refusal := _unrunnable(sql)) is not None:
                done[key] = refusal
        todo = deque(k for k in dict.fromkeys(keys) if k not in done)
        self._dispatch(todo, done, progress)
        return [done[k] for k in keys]

    def _remember(self, key: tuple, result: ExecResult) -> None:
        if result.error_kind == CRASHED:  # not the query's doing: run it again next time
            return
        cost = result.nbytes + ROW_OVERHEAD + len(key[1])
        if cost > self.cache_bytes:
            return
        self._cache[key] = (result, cost)
        self.cache_used_bytes += cost
        while self.cache_used_bytes > self.cache_bytes:
            _, (_, old_cost) = self._cache.popitem(last=False)
            self.cache_used_bytes -= old_cost

    def _dispatch(self, todo: deque, done: dict, progress) -> None:
        busy: dict[int, tuple[tuple, float, float]] = {}  # worker slot -> (key, start, hard deadline)
        while todo or busy:
            for slot in range(len(self._workers)):
                if slot in busy or not todo:
                    continue
                key = todo.popleft()
                db_path, sql, timeout, trusted = key
                lim = self.gold_limits if trusted else self.limits
                sql = sql.decode("utf-8") if isinstance(sql, bytes) else sql
                self._send(slot, (db_path, sql, timeout, (lim.memory_mb, lim.max_rows, lim.max_cells, lim.max_bytes)))
                now = time.monotonic()
                busy[slot] = (key, now, now + timeout + self.kill_grace_s)
            by_conn = {self._workers[s].recv_conn: s for s in busy}
            wait_s = max(0.0, min(d for _, _, d in busy.values()) - time.monotonic())
            for conn in wait(list(by_conn), timeout=wait_s):
                slot = by_conn[conn]
                key, start, _ = busy.pop(slot)
                try:
                    *fields, peak_kb, size_kb = conn.recv()
                    result = ExecResult(*fields)
                    self.worker_peak_kb = max(self.worker_peak_kb, peak_kb)
                    # after a big query (a gold, an out-of-memory) the worker's heap may stay large and
                    # starve the next query: start afresh rather than charge that to the next one
                    if result.error_kind == OUT_OF_MEMORY or size_kb > (self.limits.memory_mb << 10) // 2:
                        self._replace(slot)
                except (EOFError, OSError):  # the worker died (killed from outside, a crash in SQLite)
                    self._replace(slot)
                    result = ExecResult(error_kind=CRASHED, error="sandbox worker died",
                                        seconds=time.monotonic() - start)
                self._finish(key, result, done, progress)
            now = time.monotonic()
            for slot, (key, start, deadline) in list(busy.items()):
                if now >= deadline:  # the progress handler did not stop it: kill the worker
                    busy.pop(slot)
                    self._replace(slot)
                    self.killed += 1
                    self._finish(key, ExecResult(error_kind=TIMEOUT, seconds=now - start,
                                                 error=f"timed out after {key[2]:g} s (worker killed)"), done, progress)

    def time_pairs(self, jobs: Sequence[tuple], progress=None) -> list[TimingResult]:
        """Paired timing runs for (db_path, prediction, gold, runs, budget_s, style) jobs, in order.

        Each job runs in one worker, whose only work it is until it answers: one query at a time per worker,
        so `workers` should not exceed the cores left free, or the queries would share a core and the ratios
        be measured on a loaded machine. Runs under the golds' memory cap (both queries were judged first);
        a job past its budget is stopped in the worker and, failing that, the worker is killed (`timeout`)."""
        results: list[TimingResult | None] = [None] * len(jobs)
        todo = deque(range(len(jobs)))
        busy: dict[int, tuple[int, float]] = {}  # worker slot -> (job index, hard deadline)
        while todo or busy:
            for slot in range(len(self._workers)):
                if slot in busy or not todo:
                    continue
                index = todo.popleft()
                db_path, pred_sql, gold_sql, runs, budget_s, style = jobs[index]
                check_database(db_path)
                self._send(slot, (TIME_PAIR, str(db_path), pred_sql, gold_sql, runs, budget_s, style,
                                  self.gold_limits.memory_mb))
                busy[slot] = (index, time.monotonic() + budget_s + self.kill_grace_s)
            by_conn = {self._workers[s].recv_conn: s for s in busy}
            wait_s = max(0.0, min(d for _, d in busy.values()) - time.monotonic())
            for conn in wait(list(by_conn), timeout=wait_s):
                slot = by_conn[conn]
                index, _ = busy.pop(slot)
                try:
                    results[index] = TimingResult(*conn.recv())
                except (EOFError, OSError):  # the worker died (out of memory outside Python, killed)
                    self._replace(slot)
                    results[index] = TimingResult(error_kind=CRASHED, error="sandbox worker died")
                if progress:
                    progress(1)
            now = time.monotonic()
            for slot, (index, deadline) in list(busy.items()):
                if now >= deadline:
                    busy.pop(slot)
                    self._replace(slot)
                    self.killed += 1
                    results[index] = TimingResult(error_kind=TIMEOUT, error="timing budget passed (worker killed)")
                    if progress:
                        progress(1)
        self.timed_runs += sum(len(r.pred_seconds) for r in results if r is not None)
        return [r for r in results if r is not None]

    def _finish(self, key: tuple, result: ExecResult, done: dict, progress) -> None:
        done[key] = result
        self._remember(key, result)
        self.calls += 1
        if progress:
            progress(1)

    def _send(self, slot: int, request: tuple) -> None:
        for attempt in range(2):
            if self._workers[slot] is None:
                self._workers[slot] = Worker(max(self.limits.memory_mb, self.gold_limits.memory_mb))
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


def _unrunnable(sql) -> ExecResult | None:
    """The result for SQL that is not sent to a worker at all: empty, or bytes that are not UTF-8."""
    if isinstance(sql, bytes):
        try:
            sql = sql.decode("utf-8")
        except UnicodeDecodeError as exc:
            return ExecResult(error_kind=SYNTAX, error=f"SQL bytes are not UTF-8: {exc}")
    if not isinstance(sql, str):
        raise TypeError(f"SQL must be str or bytes, not {type(sql).__name__}")
    if not sql.strip():
        return ExecResult(error_kind=EMPTY, error="empty query")
    return None
