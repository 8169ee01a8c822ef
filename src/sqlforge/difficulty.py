"""Spider hardness (easy / medium / hard / extra) computed from SQL.

Follows the component counts of Spider's official `Evaluator.eval_hardness`
(component1: WHERE, GROUP BY, ORDER BY, LIMIT, joins, OR, LIKE; component2:
nested queries and set operations; others: more than one aggregate, selected
column, WHERE condition or GROUP BY column), computed on sqlglot's parse tree
instead of Spider's own parser.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp


def _core(select: exp.Select) -> tuple[int, int, int]:
    comp1 = comp2 = others = 0
    where = select.args.get("where")
    group = select.args.get("group")
    comp1 += bool(where) + bool(group) + bool(select.args.get("order")) + bool(select.args.get("limit"))
    comp1 += len(select.args.get("joins") or [])
    if where is not None:
        comp1 += len(list(where.find_all(exp.Or)))
        comp1 += len(list(where.find_all(exp.Like)))
        conds = len(list(where.find_all(exp.And))) + len(list(where.find_all(exp.Or))) + 1
        others += conds > 1
    nested = [s for s in select.find_all(exp.Select) if s is not select]
    comp2 += len(nested)
    aggs = [a for a in select.find_all(exp.AggFunc) if a.find_ancestor(exp.Select) is select]
    others += len(aggs) > 1
    others += len(select.expressions) > 1
    others += bool(group) and len(group.expressions) > 1
    return comp1, comp2, others


def spider_hardness(sql: str) -> str:
    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError):
        return "extra"
    comp2 = 0
    while isinstance(tree, exp.SetOperation):
        comp2 += 1
        tree = tree.this
    if not isinstance(tree, exp.Select):
        return "extra"
    comp1, nested, others = _core(tree)
    comp2 += nested
    if comp1 <= 1 and others == 0 and comp2 == 0:
        return "easy"
    if (others <= 2 and comp1 <= 1 and comp2 == 0) or (comp1 <= 2 and others < 2 and comp2 == 0):
        return "medium"
    if ((others > 2 and comp1 <= 2 and comp2 == 0) or (2 < comp1 <= 3 and others <= 2 and comp2 == 0)
            or (comp1 <= 1 and others == 0 and comp2 <= 1)):
        return "hard"
    return "extra"
