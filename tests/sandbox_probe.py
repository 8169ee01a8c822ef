"""Measuring the sandbox from outside: worker peak memory, open files, folder listings, own RSS."""

from __future__ import annotations

import os
import threading
from pathlib import Path


def status_kb(pid: int | str, field: str) -> int:
    """A /proc/<pid>/status field in kB (0 once the process is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def own_rss_mb() -> float:
    return status_kb("self", "VmRSS") / 1024


def alive(pid: int) -> bool:
    """Running, not a zombie waiting to be reaped."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def listing(*roots: Path) -> set[str]:
    """Every file and folder under the roots: no query may create, remove or rename one."""
    return {str(p) for root in roots for p in Path(root).rglob("*")}


class WorkerWatch:
    """Polls a worker process every 5 ms while a query runs: its peak resident size (VmHWM, which
    the kernel keeps as a running maximum) and every file it holds open (a temp file shows up here
    even when SQLite unlinks it on creation)."""

    def __init__(self, pid: int):
        self.pid, self.peak_kb, self.files = pid, 0, set()
        self.inherited = self._open_files()  # what it held before (stdout, stderr, a database)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _open_files(self) -> set[str]:
        files = set()
        try:
            for fd in os.listdir(f"/proc/{self.pid}/fd"):
                try:
                    files.add(os.readlink(f"/proc/{self.pid}/fd/{fd}"))
                except OSError:
                    pass
        except OSError:
            pass
        return files

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_kb = max(self.peak_kb, status_kb(self.pid, "VmHWM"))
            self.files |= self._open_files()
            self._stop.wait(0.005)

    def __enter__(self) -> "WorkerWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def new_disk_files(self) -> set[str]:
        """Files it opened while watched, other than pipes, sockets and devices."""
        return {f for f in self.files - self.inherited if f.startswith("/") and not f.startswith(("/dev/", "/proc/"))}
