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

from sqlforge.commands import flags

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
    p.add_argument("--n", type=flags.integer(0, flags.MAX_SAMPLES),
                   help=f"samples besides the greedy SQL for best-of-n and vote, 0 to {flags.MAX_SAMPLES} "
                        "(default: candidates.n in params)")
    p.add_argument("--temperature", type=flags.real(0.0, flags.MAX_TEMPERATURE),
                   help=f"sampling temperature, 0 to {flags.MAX_TEMPERATURE:g} (default: candidates.temperature, "
                        "mcts.temperature for mcts)")
    p.add_argument("--timeout", type=flags.seconds(),
                   help="seconds the SQL may run, above 0 and at most a day (default: sandbox.timeout_s in params)")
    p.add_argument("--rm", default="models/rm", help="reward model for best-of-n (default: models/rm when present)")
    p.add_argument("--backend", choices=["transformers", "vllm"], help="default: engine.backend in params")
    p.add_argument("--max-new-tokens", type=flags.integer(1),
                   help="at least 1; with the question's prompt it must fit the model's context "
                        "(default: engine.max_new_tokens in params)")
    p.add_argument("--rows", type=flags.integer(0), default=20, help="rows shown in the table (default: 20)")
    p.add_argument("--json", action="store_true", help="one JSON object per question, for scripts")
    p.set_defaults(func=run)


def run(args) -> int:
    from sqlforge.commands.asker import Asker, check_question
    from sqlforge.config import load_params

    # every input is checked before the model loads: a typo or an empty question costs no loading time
    if args.question is not None:
        check_question(args.question, "question")
    params_file = flags.check_params_file(args.params, "ask", "engine, sampling and sandbox settings")
    engine = {k: v for k, v in (("backend", args.backend), ("max_new_tokens", args.max_new_tokens)) if v is not None}
    params = load_params(params_file, {"engine": engine})
    asker = Asker(args.model, args.db, params, args.select, n=args.n, temperature=args.temperature,
                  timeout_s=args.timeout, rm_dir=args.rm)
    try:
        for note in asker.notes():
            print(f"note: {note}", file=sys.stderr)
        if args.question is not None:
            answer = asker.ask(args.question)
            show(answer, args)
            return 0 if answer.result.ok else 1
        return interactive(asker, args)
    finally:
        asker.close()


def _lines(tty: bool):
    """(line number, text or None when the line is not UTF-8, the decoding error) of the questions typed or
    piped in. A pipe is read as bytes and decoded line by line, so one bad line is one refused question,
    whatever the locale's error handler would have made of it."""
    number = 0
    while True:
        number += 1
        if tty:
            try:
                yield number, input("question> "), None
            except EOFError:
                return
            continue
        raw = sys.stdin.buffer.readline()
        if not raw:
            return
        try:
            yield number, raw.decode("utf-8"), None
        except UnicodeDecodeError as e:
            yield number, None, f"stdin line {number}: not valid UTF-8 at byte {e.start} ({raw[e.start:e.start + 1]!r})"


def interactive(asker, args) -> int:
    """One question per line until `exit`, `quit` or end of input; works on a pipe as well as a terminal.
    The exit code is the worst of the questions': 0 when every SQL ran, 1 when one did not, 2 when a question
    was refused (not UTF-8, too long for the model); a refused question is one `error:` line on stderr and the
    next question is asked."""
    from sqlforge.io import InputError

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
    worst = 0
    try:
        for _, line, error in _lines(tty):
            try:
                if error is not None:
                    raise InputError(error)
                question = (line or "").strip()
                if question.lower() in ("exit", "quit"):
                    break
                if question:
                    answer = asker.ask(question)
                    show(answer, args)
                    worst = max(worst, 0 if answer.result.ok else 1)
            except InputError as e:
                print(f"error: {e}", file=sys.stderr)
                worst = 2
            sys.stdout.flush()
            sys.stderr.flush()
    except KeyboardInterrupt:
        print()
    finally:
        if tty:
            readline.write_history_file(HISTORY)
    return worst


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
