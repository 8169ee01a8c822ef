"""What every stage script shares: the error contract and the closing summary."""

from __future__ import annotations

import contextlib
import sys
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sqlforge.io import InputError

console = Console(stderr=True)


def run_stage(main: Callable[[], None]) -> None:
    """Bad input ends the stage with one clear message and exit code 2 (outputs are written atomically)."""
    try:
        main()
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)  # plain print: one line, never re-wrapped
        sys.exit(2)


def summary(title: str, rows: dict) -> None:
    table = Table(title=title, show_header=False)
    for key, value in rows.items():
        table.add_row(str(key), f"{value:.4g}" if isinstance(value, float) else str(value))
    console.print(table)


@contextlib.contextmanager
def progress(description: str, total: int, enabled: bool = True) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on a terminal; silent in logs and CI. Yields advance(k)."""
    if not (enabled and console.is_terminal):
        yield lambda k=1: None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda k=1: bar.advance(task, k)
