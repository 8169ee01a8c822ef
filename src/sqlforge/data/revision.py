"""Revision examples for SFT: a wrong SQL plus execution feedback in, the gold SQL out.

tree-build asks the policy to revise its wrong SQL from execution feedback
(ReSQLver). A policy that never saw that prompt rarely revises well, so for
a `ratio` of the training questions preprocess makes one wrong query by a
small seeded edit of the gold on sqlglot's parse tree (a flipped comparison,
a changed number, another aggregate or column, a dropped condition or
clause, another set operator, the other sort order), executes it, and writes
the same revision prompt tree-build uses, with the feedback it would show.
Training data only: the feedback is derived from gold rows.
"""

from __future__ import annotations

import random
from typing import Callable

import sqlglot
from sqlglot import exp

from sqlforge.official.judge import bird_result_eq
from sqlforge.prompts import revision_messages
from sqlforge.data.psg import tables_read
from sqlforge.identifiers import needs_quotes
from sqlforge.prompts import feedback

_FLIPS = {exp.GT: exp.LT, exp.LT: exp.GT, exp.GTE: exp.LTE, exp.LTE: exp.GTE, exp.EQ: exp.NEQ, exp.NEQ: exp.EQ}
_AGGREGATES = {exp.Max: exp.Min, exp.Min: exp.Max, exp.Avg: exp.Sum, exp.Sum: exp.Avg}
_SET_OPS = (exp.Union, exp.Intersect, exp.Except)


def _pick(rng, nodes):
    """A random node from an iterable of parse-tree nodes, or None."""
    nodes = list(nodes)
    return rng.choice(nodes) if nodes else None


def _flip_comparison(tree, rng, columns):
    node = _pick(rng, tree.find_all(*_FLIPS))
    if node is None:
        return False
    node.replace(_FLIPS[type(node)](this=node.this.copy(), expression=node.expression.copy()))
    return True


def _change_number(tree, rng, columns):
    node = _pick(rng, (n for n in tree.find_all(exp.Literal) if n.is_number and not isinstance(n.parent, exp.Limit)))
    if node is None:
        return False
    value = float(node.this)
    delta = max(1, round(abs(value) * rng.choice([0.1, 0.25, 0.5])))
    new = value + rng.choice([-1, 1]) * delta
    node.replace(exp.Literal.number(int(new) if value.is_integer() else round(new, 2)))
    return True


def _swap_aggregate(tree, rng, columns):
    node = _pick(rng, tree.find_all(*_AGGREGATES))
    if node is None:
        return False
    node.replace(_AGGREGATES[type(node)](this=node.this.copy()))
    return True


def _drop_condition(tree, rng, columns):
    where = _pick(rng, tree.find_all(exp.Where))
    if where is None:
        return False
    if isinstance(where.this, (exp.And, exp.Or)):
        where.this.replace(rng.choice([where.this.left, where.this.right]).copy())
    else:
        where.pop()
    return True


def _other_column(tree, rng, columns):
    select = tree if isinstance(tree, exp.Select) else tree.find(exp.Select)
    if select is None:
        return False
    cols = [c for e in select.expressions for c in e.find_all(exp.Column)]
    if not cols or not columns:
        return False
    col = rng.choice(cols)
    options = sorted(c for c in columns if c.lower() != col.name.lower())
    if not options:
        return False
    name = rng.choice(options)
    col.set("this", exp.to_identifier(name, quoted=needs_quotes(name)))  # `From`, `order`: SQL keywords
    return True


def _drop_clause(tree, rng, columns):
    select = tree if isinstance(tree, exp.Select) else tree.find(exp.Select)
    if select is None:
        return False
    present = [key for key in ("group", "having", "order", "limit", "distinct") if select.args.get(key)]
    if not present:
        return False
    key = rng.choice(present)
    select.set(key, None)
    if key == "group":
        select.set("having", None)
    return True


def _other_set_operator(tree, rng, columns):
    if not isinstance(tree, _SET_OPS):
        return False
    other = rng.choice([op for op in _SET_OPS if op is not type(tree)])
    tree.replace(other(this=tree.this.copy(), expression=tree.expression.copy(), distinct=True))
    return True


def _flip_order(tree, rng, columns):
    node = _pick(rng, tree.find_all(exp.Ordered))
    if node is None:
        return False
    desc = not node.args.get("desc")
    node.set("desc", desc)
    node.set("nulls_first", not desc)  # SQLite's default for the new direction, so no NULLS clause is printed
    return True


MUTATIONS: list[Callable] = [_flip_comparison, _change_number, _swap_aggregate, _drop_condition, _other_column,
                             _drop_clause, _other_set_operator, _flip_order]


def mutate(sql: str, rng: random.Random, columns: list[str]) -> str | None:
    """One small wrong edit of `sql` (a different SQL string), or None when no edit applies."""
    try:
        original = sqlglot.parse_one(sql, read="sqlite")
    except Exception:
        return None
    for mutation in rng.sample(MUTATIONS, len(MUTATIONS)):
        tree = original.copy()
        holder = exp.Subquery(this=tree)  # a parent, so a mutation that replaces the root stays reachable
        if mutation(tree, rng, columns) and holder.this is not None:
            edited = holder.this.sql(dialect="sqlite")
            if edited != original.sql(dialect="sqlite"):
                return edited
    return None


def table_columns(entry: dict) -> dict[str, list[str]]:
    """{table (lower-case): [column names]} from a tables.json entry."""
    tables = entry["table_names_original"]
    out: dict[str, list[str]] = {t.lower(): [] for t in tables}
    for t_idx, name in entry["column_names_original"]:
        if t_idx >= 0:
            out[tables[t_idx].lower()].append(name)
    return out


def revision_examples(records: list[dict], tables: dict[str, dict], executor, ratio: float,
                      rng: random.Random) -> list[dict]:
    """SFT examples (revision prompt -> gold SQL) for a `ratio` of `records`, with their wrong SQL."""
    chosen = [rec for rec in records if rng.random() < ratio]
    drafts = []
    for rec in chosen:
        by_table = table_columns(tables[rec["db_id"]])
        used = tables_read(rec["gold"])
        if used is None:  # gold sqlglot cannot parse (it still runs in SQLite): no edit to make
            continue
        columns = sorted({c for t in used for c in by_table.get(t, [])})
        wrong = mutate(rec["gold"], rng, columns)
        if wrong:
            drafts.append((rec, wrong))
    queries = [(rec["db_path"], sql) for rec, wrong in drafts for sql in (rec["gold"], wrong)]
    results = executor.execute_many(queries)
    examples = []
    for i, (rec, wrong) in enumerate(drafts):
        gold, result = results[2 * i], results[2 * i + 1]
        if not gold.ok or (result.ok and bird_result_eq(gold.rows, result.rows)):
            continue  # the edit did not change the answer: not a wrong query
        messages = revision_messages(rec["schema"], rec["question"], rec["evidence"], wrong,
                                     feedback(result, gold))
        examples.append({"id": rec["id"], "psg_prefix": "", "revision_of": wrong, "prompt": messages,
                         "completion": [{"role": "assistant", "content": rec["gold"]}]})
    return examples
