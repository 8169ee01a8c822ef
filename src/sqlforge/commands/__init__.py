"""The `sqlforge` console script: one command, one subcommand per module in this package.

Each subcommand module exposes `add_parser(subparsers)`, which registers its
parser and sets `func` (taking the parsed args, returning an exit code).
Bad input raises `InputError`: one line on stderr, exit 2, as in the stages.
So does a flag argparse refuses (a missing option, a number out of range:
sqlforge.commands.flags): one line naming the flag, without the usage block.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import NoReturn

from sqlforge.io import InputError

# subcommand name -> module under sqlforge.commands; imported lazily so `sqlforge --help` stays fast
SUBCOMMANDS: dict[str, str] = {"ask": "ask", "evaluate": "evaluate", "compare": "compare", "results": "results",
                               "experiments": "experiments", "plots": "plots"}


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a refused command line is one `error:` line (scripts read one line; --help has the rest).
    Subparsers are built from the parent's class, so every subcommand reports the same way."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (`{self.prog} --help` lists the options)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="sqlforge", description="sqlforge: text-to-SQL pipeline tools")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in SUBCOMMANDS.values():
        importlib.import_module(f"sqlforge.commands.{module}").add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
