"""Spider's official SQL reading: the tokeniser and clause parser its evaluator scores with.

Spider's exact match and hardness are defined on the parse of the official
evaluator (taoyds/test-suite-sql-eval `process_sql.py`), not on what SQLite
accepts. That reader is deliberately small: it knows one join form
(`a JOIN b ON ...`), table aliases through AS, one set operation per level,
and it fails on much valid SQL (column aliases, IN value lists, IS NULL, comma
joins, LEFT JOIN, subqueries in the SELECT list). What it fails on matters as
much as what it reads: a prediction it cannot read is scored as an empty query.
This module reproduces the tokenisation, the parse and its failures, on our own
code; docs/evaluation.md lists the rules.

The parse is a tree of plain tuples so that it can be cached and compared:
  col_unit  (agg, column_id, distinct)      agg: index in AGGS, column_id "__t.c__" or "__all__"
  val_unit  (unit_op, col_unit, col_unit|None)
  cond_unit (not, op, val_unit, value1, value2)   value: str token, float, col_unit, Query
  condition [cond_unit, "and"|"or", cond_unit, ...] as a tuple
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import NamedTuple

CLAUSES = frozenset(("select", "from", "where", "group", "order", "limit", "intersect", "union", "except"))
JOIN_WORDS = frozenset(("join", "on", "as"))
COND_OPS = ("not", "between", "=", ">", "<", ">=", "<=", "!=", "in", "like", "is", "exists")
UNIT_OPS = ("none", "-", "+", "*", "/")
AGGS = ("none", "max", "min", "count", "sum", "avg")
SET_OPS = ("intersect", "union", "except")


class ParseFailure(Exception):
    """The official reader would raise here (an assertion, a missing key or index)."""


class Query(NamedTuple):
    select: tuple            # (distinct, ((agg, val_unit), ...))
    tables: tuple            # (("table_unit", "__t__") | ("sql", Query), ...)
    from_conds: tuple        # JOIN ... ON conditions, joined by "and"
    where: tuple
    group_by: tuple          # col_units
    having: tuple
    order_by: tuple | None   # (direction, (val_unit, ...)); one direction for the clause
    limit: int | None        # the official reader keeps only "there is a LIMIT" (always 1)
    intersect: "Query | None"
    union: "Query | None"
    except_: "Query | None"


# ---------------------------------------------------------------- schema

@dataclass(eq=False)  # hashed by identity: used as a cache key
class SpiderSchema:
    """Lower-cased table -> columns, and the foreign-key map, from one tables.json entry.

    `strict=False` (no entry given) accepts any identifier as a table or column: enough for
    hardness, which counts clauses and never looks at which column is which."""
    columns: dict[str, set[str]]
    foreign_keys: dict[str, str] = field(default_factory=dict)
    strict: bool = True

    def column_id(self, table: str, column: str) -> str:
        if self.strict and (table not in self.columns or column not in self.columns[table]):
            raise ParseFailure(f"no column {table}.{column}")
        return f"__{table}.{column}__"

    def table_id(self, table: str) -> str:
        if self.strict and table not in self.columns:
            raise ParseFailure(f"no table {table}")
        return f"__{table}__"


# loose mode still refuses SQL words as names, so that it fails where a real schema would
_NOT_A_TABLE = CLAUSES | JOIN_WORDS | {"left", "right", "inner", "outer", "cross", "natural", "having"}
_NOT_A_COLUMN = _NOT_A_TABLE | {"and", "or", "not", "by", "asc", "desc", "distinct", "in", "like", "is",
                                "between", "exists", "null", "case", "when", "then", "else", "end"}
LOOSE = SpiderSchema({}, strict=False)


def schema_from_entry(entry: dict, columns_in_db: dict[str, set[str]] | None = None) -> SpiderSchema:
    """Schema of one tables.json entry. The official reader takes table and column names from
    the SQLite file and only the foreign keys from tables.json: pass `columns_in_db`
    ({table: {columns}}, e.g. datasets.check_database's) to read names the same way."""
    tables = [t.lower() for t in entry["table_names_original"]]
    columns: dict[str, set[str]] = {t: set() for t in tables}
    names = []  # column index -> id, the form the foreign-key map uses
    for table_index, column in entry["column_names_original"]:
        if table_index < 0:
            names.append("__all__")
            continue
        columns[tables[table_index]].add(column.lower())
        names.append(f"__{tables[table_index]}.{column.lower()}__")
    if columns_in_db is not None:
        columns = {t.lower(): {c.lower() for c in cs} for t, cs in columns_in_db.items()}
    return SpiderSchema(columns, _foreign_key_map(entry.get("foreign_keys") or [], names))


def _foreign_key_map(pairs: list, names: list[str]) -> dict[str, str]:
    """Each group of columns linked by foreign keys maps to its lowest-index member.

    Groups are formed the official way, pair by pair in file order: a pair joins the first
    group that holds either of its columns (two existing groups are never merged), and where
    a column ends up in two groups the later group decides."""
    groups: list[set[int]] = []
    for a, b in pairs:
        group = next((g for g in groups if a in g or b in g), None)
        if group is None:
            group = set()
            groups.append(group)
        group.update((a, b))
    mapping = {}
    for group in groups:
        target = names[min(group)]
        for index in group:
            mapping[names[index]] = target
    return mapping


# ---------------------------------------------------------------- tokeniser

# The official tokeniser hands the text (quoted strings already swapped for placeholders) to
# NLTK's word tokenizer. These are the splits that tokenizer makes on such text: a final
# period, ':' and ',' unless a digit follows, runs of periods, and the characters it always
# sets apart. Quotes never reach it, so its quote and apostrophe rules never fire.
_FINAL_PERIOD = re.compile(r"([^.])(\.)([\]\)}>\"'»”’ ]*+)\s*$")
_COLON_COMMA = re.compile(r"([:,])([^\d])")
_COLON_COMMA_END = re.compile(r"([:,])$")
_PERIODS = re.compile(r"\.{2,}")
_OPENING_QUOTES = re.compile(r"[«“‘„]|`+")
_CLOSING_QUOTES = re.compile(r"[»”’]")
# characters NLTK always sets apart (these rules only pad, so one pass does them all)
_APART = re.compile(r"[;@#$%&\u2012-\u2015?!*\]\[(){}<>]|--")
# words NLTK splits in two (cannot -> can not, gonna -> gon na, ...)
_SPLIT_WORDS = [re.compile(p, re.I) for p in (r"\b(can)(not)\b", r"\b(gim)(me)\b", r"\b(gon)(na)\b",
                                               r"\b(got)(ta)\b", r"\b(lem)(me)\b", r"\b(wan)(na)(?=\s)")]
_SPLIT_ANY = re.compile(r"cannot|gimme|gonna|gotta|lemme|wanna", re.I)


def _nltk_words(text: str) -> list[str]:
    # each rule runs only where its characters occur (validate tokenises every prediction)
    if _OPENING_QUOTES.search(text):
        text = _OPENING_QUOTES.sub(r" \g<0> ", text).replace("``", " `` ")  # backtick runs split in pairs
    if "." in text:
        text = _FINAL_PERIOD.sub(r"\1 \2 \3 ", text)
        # NLTK's second final-period rule cannot fire once this one has run: omitted
        if ".." in text:
            text = _PERIODS.sub(r" \g<0> ", text)
    if "," in text or ":" in text:
        text = _COLON_COMMA_END.sub(r" \1 ", _COLON_COMMA.sub(r" \1 \2", text))
    text = _APART.sub(r" \g<0> ", text)
    if _CLOSING_QUOTES.search(text):
        text = _CLOSING_QUOTES.sub(r" \g<0> ", text)
    if _SPLIT_ANY.search(text):
        text = f" {text} "  # NLTK pads the text before these ("wanna" must be followed by a space)
        for pattern in _SPLIT_WORDS:
            text = pattern.sub(r" \1 \2 ", text)
    return text.split()


def tokenize(sql: str) -> list[str]:
    """Official tokens: single quotes become double quotes, every "..." is one value token
    (case kept), everything else is lower-cased, and `! =`, `> =`, `< =` are joined."""
    pieces = str(sql).replace("'", '"').split('"')
    if len(pieces) % 2 == 0:
        raise ParseFailure("unbalanced quote")
    values = {}
    text = []
    for i, piece in enumerate(pieces):
        if i % 2:
            key = f"__strval{i}__"
            values[key] = f'"{piece}"'
            text.append(key)
        else:
            text.append(piece)
    tokens = [values.get(w, w) for w in (w.lower() for w in _nltk_words("".join(text)))]
    joined: list[str] = []
    for token in tokens:  # a "=" right after "!", ">" or "<" joins it (left to right is equivalent)
        if token == "=" and joined and joined[-1] in ("!", ">", "<"):
            joined[-1] += "="
        else:
            joined.append(token)
    if len(joined) > 1 and joined[0] == "=" and joined[-1] in ("!", ">", "<"):
        # the official looks "before" a leading "=" at the last token (Python's index -1)
        joined = joined[:-1] + [joined[-1] + "="] + joined[1:]
    return joined


# ---------------------------------------------------------------- parser

class _Reader:
    """Recursive descent over the official grammar; positions and failures as the official's."""

    def __init__(self, tokens: list[str], schema: SpiderSchema, aliases: dict[str, str] | None = None):
        self.toks = tokens
        self.n = len(tokens)
        self.schema = schema
        self.aliases = self._aliases() if aliases is None else aliases

    def at(self, i: int) -> str:
        if i >= self.n:
            raise ParseFailure("query ends early")
        return self.toks[i]

    def has(self, i: int, *words: str) -> bool:  # the official's guarded look-ahead
        return i < self.n and self.toks[i] in words

    def _aliases(self) -> dict[str, str]:
        # every "x AS y" anywhere in the query, column aliases too; a later one wins
        aliases = {}
        for i, tok in enumerate(self.toks):
            if tok == "as":
                aliases[self.at(i + 1)] = self.toks[i - 1]
        for table in self.schema.columns:
            if table in aliases:
                raise ParseFailure(f"alias {table} is a table name")
            aliases[table] = table
        return aliases

    def resolve(self, name: str) -> str:
        if name in self.aliases:
            return self.aliases[name]
        if not self.schema.strict and re.fullmatch(r"[a-z_][\w$]*", name) and name not in _NOT_A_TABLE:
            return name
        raise ParseFailure(f"unknown table or alias {name}")

    # -- columns and values
    def column(self, i: int, tables: list[str]) -> tuple[int, str]:
        tok = self.at(i)
        if tok == "*":
            return i + 1, "__all__"
        if "." in tok:
            parts = tok.split(".")
            if len(parts) != 2:
                raise ParseFailure(f"bad column {tok}")
            return i + 1, self.schema.column_id(self.resolve(parts[0]), parts[1])
        if not tables:
            raise ParseFailure("no table for a column")
        if not self.schema.strict:  # loose: a bare name belongs to the first table of its FROM
            if not re.fullmatch(r"[\w$]+", tok) or tok in _NOT_A_COLUMN:
                raise ParseFailure(f"not a column: {tok}")
            return i + 1, self.schema.column_id(tables[0], tok)
        for table in tables:  # the first FROM table that has the column; no ambiguity check
            if tok in self.schema.columns.get(self.resolve(table), ()):
                return i + 1, self.schema.column_id(self.resolve(table), tok)
        raise ParseFailure(f"unknown column {tok}")

    def col_unit(self, i: int, tables: list[str]) -> tuple[int, tuple]:
        block = self.at(i) == "("
        i += block
        if self.at(i) in AGGS:
            agg = AGGS.index(self.toks[i])
            i += 1
            if not self.has(i, "("):
                raise ParseFailure("aggregate without (")
            i += 1
            distinct = self.at(i) == "distinct"
            i, col = self.column(i + distinct, tables)
            if not self.has(i, ")"):
                raise ParseFailure("aggregate without )")
            return i + 1, (agg, col, distinct)  # the official leaves an outer "(" unclosed here
        distinct = self.at(i) == "distinct"
        i, col = self.column(i + distinct, tables)
        if block:
            i = self.expect(i, ")")
        return i, (0, col, distinct)

    def val_unit(self, i: int, tables: list[str]) -> tuple[int, tuple]:
        block = self.at(i) == "("
        i += block
        i, left = self.col_unit(i, tables)
        op, right = 0, None
        if i < self.n and self.toks[i] in UNIT_OPS:
            op = UNIT_OPS.index(self.toks[i])
            i, right = self.col_unit(i + 1, tables)
        if block:
            i = self.expect(i, ")")
        return i, (op, left, right)

    def value(self, i: int, tables: list[str]) -> tuple[int, object]:
        start = i
        block = self.at(i) == "("
        i += block
        tok = self.at(i)
        if tok == "select":
            i, val = self.query(i)
        elif '"' in tok:
            val, i = tok, i + 1
        else:
            try:
                val, i = float(tok), i + 1
            except ValueError:  # a column: read alone from the tokens up to the next stop word,
                end = i         # an opening "(" included (so "= (col)" fails, as officially)
                while end < self.n and self.toks[end] not in (",", ")", "and") \
                        and self.toks[end] not in CLAUSES and self.toks[end] not in JOIN_WORDS:
                    end += 1
                _, val = _Reader(self.toks[start:end], self.schema, self.aliases).col_unit(0, tables)
                i = end
        if block:
            i = self.expect(i, ")")
        return i, val

    def expect(self, i: int, tok: str) -> int:
        if self.at(i) != tok:
            raise ParseFailure(f"expected {tok}")
        return i + 1

    # -- clauses
    def condition(self, i: int, tables: list[str]) -> tuple[int, tuple]:
        conds: list = []
        while i < self.n:
            i, unit = self.val_unit(i, tables)
            negated = self.at(i) == "not"
            i += negated
            if not self.has(i, *COND_OPS):
                raise ParseFailure("no condition operator")
            op = COND_OPS.index(self.toks[i])
            i, first = self.value(i + 1, tables)
            second = None
            if op == 1:  # BETWEEN x AND y
                i = self.expect(i, "and")
                i, second = self.value(i, tables)
            conds.append((negated, op, unit, first, second))
            if i < self.n and (self.toks[i] in CLAUSES or self.toks[i] in (")", ";") or self.toks[i] in JOIN_WORDS):
                break
            if self.has(i, "and", "or"):
                conds.append(self.toks[i])
                i += 1
        return i, tuple(conds)

    def select(self, i: int, tables: list[str]) -> tuple:
        i = self.expect(i, "select")
        distinct = self.has(i, "distinct")
        i += distinct
        items = []
        while i < self.n and self.toks[i] not in CLAUSES:
            agg = 0
            if self.toks[i] in AGGS:
                agg = AGGS.index(self.toks[i])
                i += 1
            i, unit = self.val_unit(i, tables)
            items.append((agg, unit))
            i += self.has(i, ",")
        return distinct, tuple(items)

    def from_clause(self, start: int) -> tuple[int, tuple, tuple, list[str]]:
        try:
            i = self.toks.index("from", start) + 1
        except ValueError:
            raise ParseFailure("no FROM") from None
        tables, units, conds = [], [], []
        while i < self.n:
            block = self.toks[i] == "("
            i += block
            if self.at(i) == "select":
                i, sub = self.query(i)
                units.append(("sql", sub))
            else:
                i += self.has(i, "join")
                name = self.resolve(self.at(i))
                units.append(("table_unit", self.schema.table_id(name)))
                tables.append(name)
                i += 3 if self.has(i + 1, "as") else 1
            if self.has(i, "on"):
                i, more = self.condition(i + 1, tables)
                conds.extend((["and"] if conds else []) + list(more))
            if block:
                i = self.expect(i, ")")
            if i < self.n and (self.toks[i] in CLAUSES or self.toks[i] in (")", ";")):
                break
        return i, tuple(units), tuple(conds), tables

    def column_list(self, i: int, tables: list[str], word: str, read) -> tuple[int, tuple, str | None]:
        """GROUP BY / ORDER BY: items until a clause word, ")" or ";", separated by commas."""
        items, direction = [], None
        i = self.expect(i + 1, "by")
        while i < self.n and not (self.toks[i] in CLAUSES or self.toks[i] in (")", ";")):
            i, item = read(i, tables)
            items.append(item)
            if word == "order" and self.has(i, "asc", "desc"):
                direction = self.toks[i]
                i += 1
            if not self.has(i, ","):
                break
            i += 1
        return i, tuple(items), direction

    def query(self, start: int) -> tuple[int, Query]:
        block = self.at(start) == "("
        i = start + block
        end, units, on, tables = self.from_clause(start)
        selected = self.select(i, tables)
        i = end
        where = group = having = ()
        order = limit = None
        if self.has(i, "where"):
            i, where = self.condition(i + 1, tables)
        if self.has(i, "group"):
            i, group, _ = self.column_list(i, tables, "group", self.col_unit)
        if self.has(i, "having"):
            i, having = self.condition(i + 1, tables)
        if self.has(i, "order"):
            i, items, direction = self.column_list(i, tables, "order", self.val_unit)
            order = (direction or "asc", items)  # present even when no item follows ORDER BY
        if self.has(i, "limit"):
            self.at(i + 1)  # the official reads the token after LIMIT, then keeps 1
            i, limit = i + 2, 1
        while self.has(i, ";"):
            i += 1
        if block:
            i = self.expect(i, ")")
        while self.has(i, ";"):
            i += 1
        ops = {}
        if i < self.n and self.toks[i] in SET_OPS:
            op = self.toks[i]
            i, ops[op] = self.query(i + 1)
        return i, Query(selected, units, on, where, group, having, order, limit,
                        ops.get("intersect"), ops.get("union"), ops.get("except"))


def parse(sql: str, schema: SpiderSchema = LOOSE) -> Query:
    """The official parse of `sql`; raises ParseFailure where the official reader fails."""
    tokens = tokenize(sql)
    try:
        return _Reader(tokens, schema).query(0)[1]
    except (IndexError, KeyError, ValueError, RecursionError) as error:  # defensive: any slip is a failure
        raise ParseFailure(str(error)) from error
