"""The sandbox worker process: runs queries for sqlforge.sandbox.executor.Executor under an address-space cap.

Started with `python -m sqlforge.sandbox.worker` (not multiprocessing's spawn), so
the child never re-imports the calling stage and its torch. It dies with its
parent: Linux delivers SIGKILL when the parent goes (PR_SET_PDEATHSIG), and a
watchdog thread exits when the request pipe hangs up, which also covers a
parent that died before the signal was armed.
"""

from __future__ import annotations

import ctypes
import os
import resource
import select
import signal
import subprocess
import sys
import threading
from collections import OrderedDict
from multiprocessing.connection import Connection
from pathlib import Path

from sqlforge.sandbox.sqlite import (CRASHED, OUT_OF_MEMORY, ExecResult, TimingResult, check_database, open_readonly,
                                     run_query, time_pair)

SRC_DIR = Path(__file__).resolve().parents[2]  # the folder holding sqlforge/: the worker imports it from there
_PR_SET_PDEATHSIG = 1
_OPEN_CONNECTIONS = 16  # per worker; each holds up to SQLite's default 2 MB page cache


class Worker:
    """The parent's handle on one worker process."""

    def __init__(self, max_memory_mb: int):
        parent_r, child_w = os.pipe()
        child_r, parent_w = os.pipe()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC_DIR), os.environ.get("PYTHONPATH")])),
               "MALLOC_ARENA_MAX": "1"}  # one malloc arena: a thread must not reserve 64 MB of the capped space
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sqlforge.sandbox.worker", str(child_r), str(child_w), str(os.getpid()),
             str(max_memory_mb)],
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


def _die_with_parent(parent_pid: int, request_fd: int) -> None:
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(0)

    def watch() -> None:  # POLLHUP on the request pipe: every writer (the parent) is gone
        poller = select.poll()
        poller.register(request_fd, 0)  # no events asked: only hang-up and error are reported
        while True:
            if poller.poll():
                os._exit(0)

    threading.stack_size(256 << 10)
    threading.Thread(target=watch, daemon=True).start()


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _set_memory_cap(memory_mb: int, hard_mb: int) -> None:
    # the soft cap moves with each request (predictions and golds differ); the hard cap stays the largest
    resource.setrlimit(resource.RLIMIT_AS, (min(memory_mb, hard_mb) << 20, hard_mb << 20))


# a timing request: (TIME_PAIR, db_path, prediction, gold, runs, budget_s, style, memory_mb)
TIME_PAIR = "time_pair"


def _time(replies: Connection, request: tuple, hard_mb: int) -> None:
    """Paired timing runs of a prediction and its gold (sandbox.sqlite.time_pair), fresh connections each."""
    db_path, pred_sql, gold_sql, runs, budget_s, style, memory_mb = request
    _set_memory_cap(memory_mb, hard_mb)
    try:
        result = time_pair(db_path, pred_sql, gold_sql, runs, budget_s, style)
    except Exception as exc:  # not the queries' doing (a database gone unreadable): report, stay alive
        result = TimingResult(error_kind=CRASHED, error=f"{type(exc).__name__}: {exc}")
    replies.send((result.pred_seconds, result.gold_seconds, result.error_kind, result.error))


def main(read_fd: int, write_fd: int, parent_pid: int, hard_mb: int) -> None:
    _die_with_parent(parent_pid, read_fd)
    requests, replies = Connection(read_fd, writable=False), Connection(write_fd, readable=False)
    conns: OrderedDict[str, object] = OrderedDict()
    while True:
        try:
            request = requests.recv()
        except EOFError:  # the parent went away
            return
        if len(request) == 8 and request[0] == TIME_PAIR:
            _time(replies, request[1:], hard_mb)
            continue
        db_path, sql, timeout, limits = request
        memory_mb, max_rows, max_cells, max_bytes = limits
        _set_memory_cap(memory_mb, hard_mb)
        try:
            if db_path not in conns:
                check_database(db_path)  # a journal could have appeared since the parent looked
                conns[db_path] = open_readonly(db_path)
                if len(conns) > _OPEN_CONNECTIONS:
                    conns.popitem(last=False)[1].close()
            conns.move_to_end(db_path)
            result = run_query(conns[db_path], sql, timeout, max_rows, max_bytes, max_cells)
        except Exception as exc:  # not the query's doing (a database gone unreadable): report, stay alive
            result = ExecResult(error_kind=CRASHED, error=f"{type(exc).__name__}: {exc}")
        try:
            replies.send((result.rows, result.error_kind, result.error, result.seconds, result.nbytes,
                          result.columns, _status_kb("VmHWM"), _status_kb("VmSize")))
        except MemoryError:  # pickling the result needed more than the cap left
            result = None
            replies.send(([], OUT_OF_MEMORY, "result could not be sent within the memory cap", 0.0, 0, [],
                          _status_kb("VmHWM"), _status_kb("VmSize")))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
