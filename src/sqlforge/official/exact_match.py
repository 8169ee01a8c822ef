"""Spider exact-set-match (EM), question by question as the official evaluator scores it.

Both queries are read with the official parser (`spider_parse`), then rebuilt as the
official script does before comparing:
- values are dropped from every condition (a subquery in a condition stays, values
  stripped inside it too);
- DISTINCT is dropped from the SELECT and from every column of the outer query and its
  set-operation parts; a subquery inside a condition keeps its DISTINCTs;
- a column of a table in the outer FROM that takes part in a foreign key is replaced by
  the lowest-numbered column of its foreign-key group.
The rebuilt queries match when every clause score is perfect (SELECT items as a
multiset, WHERE conditions as a multiset plus the set of AND/OR, GROUP BY column names,
GROUP BY + HAVING, ORDER BY with the presence of LIMIT, each INTERSECT/UNION/EXCEPT part
matched recursively, the set of SQL keywords) and the FROM tables agree as a multiset.
Top-level JOIN ON conditions are not compared (only their OR/NOT/IN/LIKE keywords are).
A prediction the parser cannot read is an empty query and matches nothing. The official
script also replaces every "value" in a prediction by "1" before reading it
(`official_prediction`). docs/evaluation.md gives each rule.
"""

from __future__ import annotations

from collections import Counter
from functools import lru_cache

from sqlforge.official.spider_parse import COND_OPS, LOOSE, ParseFailure, Query, SpiderSchema, parse, schema_from_entry
from sqlforge.official.prediction_text import official_prediction

_schemas: dict[int, tuple[dict, SpiderSchema]] = {}


def spider_schema(tables_entry: dict | SpiderSchema) -> SpiderSchema:
    """The schema of one tables.json entry, built once per entry object."""
    if isinstance(tables_entry, SpiderSchema):
        return tables_entry
    cached = _schemas.get(id(tables_entry))
    if cached is None or cached[0] is not tables_entry:  # holding the entry keeps its id unique
        cached = _schemas[id(tables_entry)] = (tables_entry, schema_from_entry(tables_entry))
    return cached[1]


# ---------------------------------------------------------------- rebuild

def _strip_values(q: Query | None) -> Query | None:
    if q is None:
        return None

    def cond(c: tuple) -> tuple:
        return tuple(u if isinstance(u, str) else
                     (u[0], u[1], u[2], _strip_values(u[3]) if isinstance(u[3], Query) else None,
                      _strip_values(u[4]) if isinstance(u[4], Query) else None) for u in c)
    # FROM subqueries keep their values: the official rebuild never looks into them
    return q._replace(from_conds=cond(q.from_conds), where=cond(q.where), having=cond(q.having),
                      intersect=_strip_values(q.intersect), union=_strip_values(q.union),
                      except_=_strip_values(q.except_))


def _map_columns(q: Query | None, valid: frozenset, fk: dict) -> Query | None:
    if q is None:
        return None

    def col(c):
        if c is None:
            return None
        agg, column, _ = c
        return agg, fk[column] if column in fk and column in valid else column, None

    def val(v):
        return v if v is None else (v[0], col(v[1]), col(v[2]))

    def cond(c: tuple) -> tuple:  # only the left side: values and subqueries stay as they are
        return tuple(u if isinstance(u, str) else (u[0], u[1], val(u[2]), u[3], u[4]) for u in c)
    order = None if q.order_by is None else (q.order_by[0], tuple(val(v) for v in q.order_by[1]))
    return q._replace(select=(None, tuple((agg, val(v)) for agg, v in q.select[1])),
                      from_conds=cond(q.from_conds), where=cond(q.where), having=cond(q.having),
                      group_by=tuple(col(c) for c in q.group_by), order_by=order,
                      intersect=_map_columns(q.intersect, valid, fk), union=_map_columns(q.union, valid, fk),
                      except_=_map_columns(q.except_, valid, fk))


def _rebuild(q: Query, schema: SpiderSchema) -> Query:
    # foreign keys map only for columns of the outer query's FROM tables (set-operation parts too)
    prefixes = {unit[1][:-2] for unit in q.tables if unit[0] == "table_unit"}
    valid = frozenset(c for c in schema.foreign_keys if "." in c and c[:c.index(".")] in prefixes)
    return _map_columns(_strip_values(q), valid, schema.foreign_keys)


@lru_cache(maxsize=32_768)  # golds repeat across predictors; bounded for memory
def rebuilt(sql: str, schema: SpiderSchema) -> Query | None:
    """The rebuilt official parse of `sql`, or None where the official parser fails."""
    try:
        return _rebuild(parse(sql, schema), schema)
    except ParseFailure:
        return None


# ---------------------------------------------------------------- compare

def _conds(c: tuple) -> list:
    return list(c[::2])


def _keywords(q: Query) -> set[str]:
    words = {name for name, present in (("where", q.where), ("group", q.group_by), ("having", q.having),
                                        ("limit", q.limit is not None), ("intersect", q.intersect),
                                        ("union", q.union), ("except", q.except_)) if present}
    if q.order_by is not None:
        words |= {"order", q.order_by[0]}
    clauses = (q.from_conds, q.where, q.having)  # ON conditions count here, and only here
    units = [u for c in clauses for u in c[::2]]  # positions decide, as officially: conditions
    words |= {"or"} & {w for c in clauses for w in c[1::2]}  # alternate with AND/OR
    words |= {"not"} if any(u[0] for u in units) else set()
    words |= {op for op in ("in", "like") if any(u[1] == COND_OPS.index(op) for u in units)}
    return words


def _same_multiset(a, b) -> bool:
    return len(a) == len(b) and Counter(a) == Counter(b)


def match(pred: Query, gold: Query) -> bool:
    """Official exact match of two rebuilt parses."""
    if not _same_multiset(pred.select[1], gold.select[1]):
        return False
    if not _same_multiset(_conds(pred.where), _conds(gold.where)):
        return False
    group_names = [[c[1].split(".")[1] if "." in c[1] else c[1] for c in q.group_by] for q in (pred, gold)]
    if not _same_multiset(*group_names):  # GROUP BY compares column names, whatever the table
        return False
    if bool(pred.group_by) != bool(gold.group_by) or (gold.group_by and (
            [c[1] for c in pred.group_by] != [c[1] for c in gold.group_by] or pred.having != gold.having)):
        return False
    if (pred.order_by is None) != (gold.order_by is None) or (gold.order_by is not None and (
            pred.order_by != gold.order_by or (pred.limit is None) != (gold.limit is None))):
        return False
    if set(pred.where[1::2]) != set(gold.where[1::2]):
        return False
    for part in ("intersect", "union", "except_"):
        p, g = getattr(pred, part), getattr(gold, part)
        if (p is None) != (g is None) or (g is not None and not match(p, g)):
            return False
    if _keywords(pred) != _keywords(gold):
        return False
    return not gold.tables or _same_multiset(pred.tables, gold.tables)


def exact_match(gold: str, pred: str, tables_entry: dict | SpiderSchema | None = None) -> bool:
    """Official Spider exact-set-match of a prediction against its gold.

    `tables_entry` is the database's tables.json entry (or `spider_schema(entry)`); the
    official verdict needs it (foreign keys, which table a bare column belongs to). Without
    it names are taken as written, a bare column belonging to the first FROM table, and no
    foreign key is mapped: an approximation. A gold the official parser cannot read has no
    official verdict (the official script stops with a traceback); it scores False here."""
    schema = LOOSE if tables_entry is None else spider_schema(tables_entry)
    gold_q = rebuilt(gold, schema)
    pred_q = rebuilt(official_prediction(pred), schema)
    return gold_q is not None and pred_q is not None and match(pred_q, gold_q)
