"""Spider hardness (easy / medium / hard / extra), the label of the official `eval_hardness`.

Counted on the official parse (`spider_parse`), as the official script counts:
- component1: WHERE, GROUP BY, ORDER BY, LIMIT, one per joined table (every FROM item
  after the first, a FROM subquery included), one per OR and one per LIKE in the ON,
  WHERE and HAVING conditions;
- component2: subqueries inside ON/WHERE/HAVING conditions plus the query's own
  INTERSECT/UNION/EXCEPT (a FROM subquery is not one);
- others: "more than one aggregate", more than one selected item, more than one WHERE
  condition, more than one GROUP BY column. The official aggregate count has quirks that
  decide labels, reproduced here: a WHERE or HAVING condition counts as an aggregate when it
  is negated (NOT IN, NOT LIKE, ...), each AND/OR of HAVING counts as one, while an aggregate
  inside a condition does not count.
SQL the official parser cannot read gets "extra" (the official script has no label for it).
"""

from __future__ import annotations

from functools import lru_cache

from sqlforge.official.exact_match import spider_schema
from sqlforge.official.spider_parse import COND_OPS, LOOSE, ParseFailure, Query, SpiderSchema, parse


def _components(q: Query) -> tuple[int, int, int]:
    clauses = (q.from_conds, q.where, q.having)  # conditions alternate with AND/OR in each clause
    units = [u for c in clauses for u in c[::2]]
    comp1 = sum(map(bool, (q.where, q.group_by, q.order_by is not None, q.limit is not None)))
    comp1 += max(0, len(q.tables) - 1)
    comp1 += [w for c in clauses for w in c[1::2]].count("or") + sum(u[1] == COND_OPS.index("like") for u in units)
    comp2 = sum(isinstance(v, Query) for u in units for v in (u[3], u[4]))
    comp2 += sum(part is not None for part in (q.intersect, q.union, q.except_))
    aggs = sum(agg != 0 for agg, _ in q.select[1])
    aggs += sum(bool(u[0]) for u in q.where[::2])  # the official counts a negated condition
    aggs += sum(c[0] != 0 for c in q.group_by)
    if q.order_by is not None:
        aggs += sum(c[0] != 0 for v in q.order_by[1] for c in (v[1], v[2]) if c)
    aggs += sum(bool(u[0]) if not isinstance(u, str) else 1 for u in q.having)  # AND/OR count too
    others = (aggs > 1) + (len(q.select[1]) > 1) + (len(q.where) > 1) + (len(q.group_by) > 1)
    return comp1, comp2, others


def hardness_of(q: Query) -> str:
    comp1, comp2, others = _components(q)
    if comp1 <= 1 and others == 0 and comp2 == 0:
        return "easy"
    if (others <= 2 and comp1 <= 1 and comp2 == 0) or (comp1 <= 2 and others < 2 and comp2 == 0):
        return "medium"
    if ((others > 2 and comp1 <= 2 and comp2 == 0) or (2 < comp1 <= 3 and others <= 2 and comp2 == 0)
            or (comp1 <= 1 and others == 0 and comp2 <= 1)):
        return "hard"
    return "extra"


@lru_cache(maxsize=100_000)
def _hardness(sql: str, schema: SpiderSchema) -> str:
    try:
        return hardness_of(parse(sql, schema))
    except ParseFailure:
        return "extra"


def spider_hardness(sql: str, tables_entry: dict | SpiderSchema | None = None) -> str:
    """Official hardness of `sql`. Without a tables.json entry any identifier is accepted as a
    table or column, which changes no count; with one, names are checked as the official does."""
    return _hardness(sql, LOOSE if tables_entry is None else spider_schema(tables_entry))
