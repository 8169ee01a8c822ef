"""The `sqlforge` console script: one command, one subcommand per module in this package.

Each subcommand module exposes `add_parser(subparsers)`, which registers its
parser and sets `func` (taking the parsed args, returning an exit code).
Bad input raises `InputError`: one line on stderr, exit 2, as in the stages.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from sqlforge.io import InputError

# subcommand name -> module under sqlforge.commands; imported lazily so `sqlforge --help` stays fast
SUBCOMMANDS: dict[str, str] = {"ask": "ask", "evaluate": "evaluate"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sqlforge", description="sqlforge: text-to-SQL pipeline tools")
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
