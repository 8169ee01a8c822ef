"""Numeric flags of the `sqlforge` subcommands, checked once: where argparse reads them.

Each function here builds an argparse `type`. A value that is not a number of
its kind, not finite (`nan`, `inf`) or outside its range is an argparse error,
which the console script prints as one line (`error: argument --timeout:
'nan' is not a finite number`) with exit code 2, before any file is read or
any model loads. Past the parser, a flag's value can be trusted.

Ranges: a query's time is above 0 and at most a day (the sandbox waits on it
in milliseconds, and `inf` or 1e300 overflow that wait); worker processes and
samples are bounded so that a typo cannot start a million of them; the
temperature is params.yaml's range (0 allowed here: greedy sampling).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Callable

from sqlforge.io import InputError

MAX_TIMEOUT_S = 86_400.0  # one day: far past any official timeout (60 s), far below the wait's overflow
MAX_WORKERS = 256  # sandbox processes; each may use its sandbox.memory_mb
MAX_SAMPLES = 1024  # `ask --n`: sampled SQLs generated in one batch besides the greedy one
MAX_TEMPERATURE = 10.0  # params.yaml's Temperature range


def _parse(kind: type, text: str) -> float | int:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def seconds() -> Callable[[str], float]:
    """A query's time: finite, above 0, at most MAX_TIMEOUT_S."""
    def parse(text: str) -> float:
        value = float(_parse(float, text))
        if not 0 < value <= MAX_TIMEOUT_S:
            raise argparse.ArgumentTypeError(f"{text!r} is not in (0, {MAX_TIMEOUT_S:g}] seconds")
        return value
    return parse


def integer(low: int, high: int | None = None) -> Callable[[str], int]:
    """An integer in [low, high] (no upper bound when high is None)."""
    def parse(text: str) -> int:
        value = int(_parse(int, text))
        if value < low or (high is not None and value > high):
            bound = f"[{low}, {high}]" if high is not None else f">= {low}"
            raise argparse.ArgumentTypeError(f"{text!r} is not {'in ' if high is not None else ''}{bound}")
        return value
    return parse


def real(low: float, high: float) -> Callable[[str], float]:
    """A finite number in [low, high]."""
    def parse(text: str) -> float:
        value = float(_parse(float, text))
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text!r} is not in [{low:g}, {high:g}]")
        return value
    return parse


def check_params_file(path: str, command: str, why: str) -> str:
    """`--params` names a file: said with what the file is for and how to pass it, since the default
    (params.yaml in the working directory) is missing whenever a command runs outside the repository root."""
    if not Path(path).is_file():
        what = "is a folder, not a file" if Path(path).is_dir() else "not found"
        raise InputError(f"{path}: params file {what}: `sqlforge {command}` reads the project's params from it "
                         f"({why}); run it from the repository root or pass --params PATH/TO/params.yaml")
    return path
