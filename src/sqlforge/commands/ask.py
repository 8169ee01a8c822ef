"""`sqlforge ask`: put a trained model to work on a database of your own.

    sqlforge ask --db shop.sqlite "Which customers ordered more than 3 times?"
    sqlforge ask --db shop.sqlite            # interactive: one question per line, `exit` leaves

Prints the SQL, runs it in the read-only sandbox and prints the first rows,
the row count and the time; `--json` prints one JSON object per question
instead. This module parses and prints; sqlforge.commands.asker does the work.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

HISTORY = Path.home() / ".cache" / "sqlforge" / "ask_history"


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("ask", help="ask a trained model a question about an SQLite database",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("question", nargs="?", help="the question; without it, an interactive prompt")
    p.add_argument("--db", required=True, help="SQLite database file")
    p.add_argument("--model", default="models/merged", help="model folder (default: the pipeline's models/merged)")
    p.add_argument("--select", default="greedy", choices=["greedy", "best-of-n", "vote", "mcts"],
                   help="how the SQL is chosen (default: greedy)")
    p.add_argument("--params", default="params.yaml",
                   help="the project's params: engine, sampling and MCTS settings (default: params.yaml)")
    p.add_argument("--n", type=int, help="samples besides the greedy SQL for best-of-n and vote "
                                         "(default: candidates.n in params)")
    p.add_argument("--temperature", type=float, help="sampling temperature (default: candidates.temperature, "
                                                     "mcts.temperature for mcts)")
    p.add_argument("--timeout", type=float, help="seconds the SQL may run (default: sandbox.timeout_s in params)")
    p.add_argument("--rm", default="models/rm", help="reward model for best-of-n (default: models/rm when present)")
    p.add_argument("--backend", choices=["transformers", "vllm"], help="default: engine.backend in params")
    p.add_argument("--max-new-tokens", type=int, help="default: engine.max_new_tokens in params")
    p.add_argument("--rows", type=int, default=20, help="rows shown in the table (default: 20)")
    p.add_argument("--json", action="store_true", help="one JSON object per question, for scripts")
    p.set_defaults(func=run)


def run(args) -> int:
    from sqlforge.commands.asker import Asker
    from sqlforge.io import InputError

    from sqlforge.config import load_params

    for name, value, low in (("--n", args.n, 0), ("--timeout", args.timeout, 1e-9), ("--rows", args.rows, 0),
                             ("--temperature", args.temperature, 0), ("--max-new-tokens", args.max_new_tokens, 1)):
        if value is not None and value < low:
            raise InputError(f"{name}: {value} is below {low:g}")
    engine = {k: v for k, v in (("backend", args.backend), ("max_new_tokens", args.max_new_tokens)) if v is not None}
    params = load_params(args.params, {"engine": engine})
    asker = Asker(args.model, args.db, params, args.select, n=args.n, temperature=args.temperature,
                  timeout_s=args.timeout, rm_dir=args.rm)
    try:
        for note in asker.notes():
            print(f"note: {note}", file=sys.stderr)
        if args.question is not None:
            if not args.question.strip():
                raise InputError("question: empty")
            answer = asker.ask(args.question)
            show(answer, args)
            return 0 if answer.result.ok else 1
        interactive(asker, args)
        return 0
    finally:
        asker.close()


def interactive(asker, args) -> None:
    """One question per line until `exit`, `quit` or end of input; works on a pipe as well as a terminal."""
    tty = sys.stdin.isatty()
    if tty:
        import readline  # line editing and history for input()

        HISTORY.parent.mkdir(parents=True, exist_ok=True)
        try:
            readline.read_history_file(HISTORY)
        except OSError:
            pass
    if not args.json:
        _console().print(f"Asking {asker.model_dir} about {asker.db_path}. One question per line; `exit` leaves.",
                         highlight=False)
    try:
        while True:
            try:
                line = input("question> " if tty else "")
            except EOFError:
                break
            except KeyboardInterrupt:
                print()
                break
            question = line.strip()
            if question.lower() in ("exit", "quit"):
                break
            if question:
                show(asker.ask(question), args)
                sys.stdout.flush()
    finally:
        if tty:
            readline.write_history_file(HISTORY)


def _console():
    from rich.console import Console

    # a pipe gets plain text (no colour codes) at a fixed width, so scripts and tests see stable output
    return Console(width=None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", "100")))


def _cell(value) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bytes):
        return f"<blob, {len(value)} bytes>"
    return str(value)


def _jsonable(value):
    return value.hex() if isinstance(value, bytes) else str(value)


def show(answer, args) -> None:
    if args.json:
        print(json.dumps(answer.to_json(), default=_jsonable, ensure_ascii=False))
        return
    from rich.syntax import Syntax
    from rich.table import Table

    console = _console()
    console.print(Syntax(answer.sql or "(no SQL)", "sql", theme="ansi_dark", word_wrap=True))
    for note in answer.notes:
        console.print(f"[dim]{note}[/dim]", highlight=False)
    result = answer.result
    if not result.ok:
        # the sandbox's own reason (syntax, runtime, denied, timeout, too large), never a traceback
        console.print(f"[red]the SQL did not run ({result.error_kind}):[/red] {result.error}", highlight=False)
        return
    table = Table(*(result.columns or ["(no columns)"]), show_lines=False)
    for row in result.rows[: args.rows]:
        table.add_row(*(_cell(v) for v in row))
    console.print(table)
    shown = min(len(result.rows), args.rows)
    more = f", first {shown} shown" if shown < len(result.rows) else ""
    console.print(f"{len(result.rows)} row{'s' if len(result.rows) != 1 else ''}{more}; "
                  f"SQL ran in {result.seconds:.3f} s, {answer.seconds:.2f} s in all", highlight=False)
