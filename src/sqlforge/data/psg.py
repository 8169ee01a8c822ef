"""Progressive SQL Generation (SQL-o1): prefix-augmented SFT examples.

A PSG example puts a clause prefix of the gold SQL in the prompt's
"incomplete SQL" slot; its target stays the full gold SQL. Cuts are made
before clause keywords found by sqlglot's SQLite tokenizer, never inside a
string or a quoted name (never at position 0, see `sqlforge.clauses.prefixes`).

Cut points follow `sqlforge.clauses` (`nested`, SQL-o1's default, also cuts
before subquery keywords; `top_level` only outside parentheses).

Modes: `random` adds one random cut for a `ratio` of the examples,
`all_prefixes` adds every cut for a `ratio` of them, `hard` adds one random
cut for every hard example. Hard rule `original` (SQL-o1's preprocess_data.py):
the base model's prediction fails to execute, or reads no table or at least
`min_tables` tables (SQL-o1's table count puts 0 in its "3 or more" branch).
`extended` (sqlforge's earlier rule): the prediction fails or returns other rows
than the gold, or the gold reads at least `min_tables` tables.

How the cut examples join the plain ones (`plain_kept`): in `random` and
`all_prefixes` by `keep_plain` (SQL-o1's data_process.py replaces the plain
example); in `hard` by `hard_mix`: `add` (SQL-o1's --PSG pass writes a file of
only the cut hard examples, which training can only use beside the plain file)
or `replace`.
"""

from __future__ import annotations

import random

import sqlglot
from sqlglot import exp

from sqlforge.clauses import NESTED, prefixes
from sqlforge.official.judge import results_match

WRONG, EXEC_ERROR, MANY_TABLES, NO_TABLES = "wrong", "exec_error", "many_tables", "no_tables"


def plain_kept(mode: str, keep_plain: bool, hard_mix: str) -> bool:
    """Whether a question whose gold was cut keeps its plain example beside its cut ones."""
    return hard_mix == "add" if mode == "hard" else keep_plain


def psg_prefixes(gold: str, mode: str, ratio: float, rng: random.Random, hard: bool = False,
                 clauses: str = NESTED) -> list[str]:
    """Prefixes to add for one training example (empty list = plain example only)."""
    if mode == "none":
        return []
    if mode == "hard":
        if not hard:
            return []
    elif rng.random() >= ratio:
        return []
    cuts = prefixes(gold, clauses)
    if not cuts:
        return []
    if mode == "all_prefixes":
        return cuts
    return [rng.choice(cuts)]


def tables_read(sql: str) -> set[str] | None:
    """Lower-case names of the tables a query reads (subqueries included, CTEs not); None when sqlglot
    cannot parse it."""
    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except Exception:
        return None
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    return {t.name.lower() for t in tree.find_all(exp.Table) if t.name and t.name.lower() not in ctes}


def tables_touched(sql: str) -> int:
    """Distinct tables a query reads; 0 when sqlglot cannot parse it."""
    return len(tables_read(sql) or ())


def hard_reasons(records: list[dict], predictions: list[str], executor, rules: str, min_tables: int,
                 rule: str = "original") -> list[str]:
    """Why each example is hard ("" = not hard). `original`: SQL-o1's rule, on the prediction alone
    (its table count matches "from/join <table>" substrings, and a count of 0 falls in its else branch
    with 3+; here sqlglot reads the tables, and a prediction it cannot parse counts 0). `extended` judges
    the prediction against the gold on purpose: this picks training data, never an answer."""
    if rule == "original":
        results = executor.execute_many([(r["db_path"], p) for r, p in zip(records, predictions)])
        return [EXEC_ERROR if not res.ok else _table_reason(tables_touched(p), min_tables)
                for res, p in zip(results, predictions)]
    queries = [(r["db_path"], sql) for r, p in zip(records, predictions) for sql in (r["gold"], p)]
    results = executor.execute_many(queries)
    reasons = []
    for i, rec in enumerate(records):
        gold, pred = results[2 * i], results[2 * i + 1]
        if not pred.ok:
            reasons.append(EXEC_ERROR)
        elif not gold.ok or not results_match(rules, rec["gold"], gold.rows, pred.rows):
            reasons.append(WRONG)
        elif tables_touched(rec["gold"]) >= min_tables:
            reasons.append(MANY_TABLES)
        else:
            reasons.append("")
    return reasons


def _table_reason(tables: int, min_tables: int) -> str:
    return NO_TABLES if tables == 0 else MANY_TABLES if tables >= min_tables else ""
