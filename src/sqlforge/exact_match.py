"""Exact-set-match (EM), Spider's secondary metric, on sqlglot parse trees.

Like Spider's evaluate.py, two queries match when their clause components
match as sets, with values ignored: SELECT items (and DISTINCT), FROM tables,
WHERE and HAVING conditions with their AND/OR connectives, GROUP BY, ORDER BY
items with direction, the presence of LIMIT, and set operations compared part
by part (subqueries inside conditions are compared the same way, recursively).

Differences from the official script, stated so nobody is surprised: columns
are compared by name with table aliases dropped (the official one resolves
them through tables.json), and JOIN ON conditions count as conditions of the
FROM clause. A query sqlglot cannot parse matches nothing.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp

_SET_OPS = (exp.Union, exp.Intersect, exp.Except)


def _normal(node: exp.Expression) -> str:
    """Canonical text of an expression: values replaced, table qualifiers and aliases dropped."""
    node = node.copy()
    for literal in list(node.find_all(exp.Literal)):
        literal.replace(exp.Literal.string("value"))
    for column in list(node.find_all(exp.Column)):
        column.set("table", None)
    for query in list(node.find_all(exp.Select, *_SET_OPS)):
        if query is not node:  # a subquery: compare its components, not its text
            query.replace(exp.Literal.string(repr(components(query))))
    if isinstance(node, exp.Alias):
        node = node.this
    return node.sql(dialect="sqlite").lower()


def _table(node: exp.Expression) -> str:
    """A table by name (alias dropped); a derived table by its components."""
    return node.name.lower() if isinstance(node, exp.Table) else repr(components(node))


def _atoms(condition: exp.Expression | None) -> tuple[list[str], list[str]]:
    """Sorted condition atoms and sorted AND/OR connectives of a WHERE/HAVING/ON tree."""
    if condition is None:
        return [], []
    if isinstance(condition, (exp.Where, exp.Having)):
        condition = condition.this
    if isinstance(condition, exp.Paren):
        return _atoms(condition.this)
    if isinstance(condition, (exp.And, exp.Or)):
        left, left_ops = _atoms(condition.this)
        right, right_ops = _atoms(condition.expression)
        return sorted(left + right), sorted(left_ops + right_ops + [type(condition).__name__.lower()])
    return [_normal(condition)], []


def components(query: exp.Expression) -> tuple:
    if isinstance(query, _SET_OPS):
        return (type(query).__name__.lower(), components(query.this), components(query.expression))
    if isinstance(query, exp.Subquery):
        return components(query.this)
    if not isinstance(query, exp.Select):
        return ("other", _normal(query))
    tables = [query.args.get("from_") or query.args.get("from")] + list(query.args.get("joins") or [])
    table_names = sorted(_table(t.this) for t in tables if t is not None)
    on_conditions = [a for j in query.args.get("joins") or [] for a in _atoms(j.args.get("on"))[0]]
    group = query.args.get("group")
    order = query.args.get("order")
    return (
        "select",
        bool(query.args.get("distinct")),
        tuple(sorted(_normal(e) for e in query.expressions)),
        tuple(table_names),
        tuple(sorted(on_conditions)),
        tuple(map(tuple, _atoms(query.args.get("where")))),
        tuple(sorted(_normal(e) for e in group.expressions)) if group else (),
        tuple(map(tuple, _atoms(query.args.get("having")))),
        tuple((_normal(o.this), bool(o.args.get("desc"))) for o in order.expressions) if order else (),
        query.args.get("limit") is not None,
    )


def exact_match(gold: str, pred: str) -> bool:
    try:
        gold_tree = sqlglot.parse_one(gold, read="sqlite")
        pred_tree = sqlglot.parse_one(pred, read="sqlite")
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError, ValueError):
        return False
    if gold_tree is None or pred_tree is None:
        return False
    return components(gold_tree) == components(pred_tree)
