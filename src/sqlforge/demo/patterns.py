"""Question patterns for the demo dataset.

A pattern picks tables, columns and values from a demo database and returns
its phrasings (the last one is held out of train) and the gold SQL. Together
they cover projection, =/</>/LIKE/BETWEEN filters, aggregates, GROUP BY and
HAVING, ORDER BY/LIMIT, joins along foreign keys, IN/NOT IN subqueries and
INTERSECT/UNION/EXCEPT.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable, Optional

from sqlforge.demo.schemas import Database, Table
from sqlforge.identifiers import quote


@dataclass
class Example:
    phrasings: list[str]
    sql: str

    @property
    def question(self) -> str:
        return self.phrasings[0]


Rows = dict[str, list[dict]]
Pattern = Callable[[Database, Rows, random.Random], Optional[Example]]


def _entity(db: Database, rng: random.Random, need: tuple[str, ...] = ()) -> Table | None:
    options = [t for t in db.tables if t.by_role("name") and all(t.by_role(r) for r in need)]
    return rng.choice(options) if options else None


def _lit(v) -> str:
    return f"'{v}'" if isinstance(v, str) else str(v)


def _value(rows: Rows, table: Table, col: str, rng: random.Random):
    return rng.choice(rows[table.name])[col]


def projection(db, rows, rng):
    t = _entity(db, rng, ("num",))
    if t is None:
        return None
    x = rng.choice(t.by_role("num"))
    n = t.by_role("name")[0]
    return Example([f"List the {n.nl} and {x.nl} of every {t.singular}.",
                    f"Show each {t.singular}'s {n.nl} together with its {x.nl}.",
                    f"Give the {n.nl} and {x.nl} for all {t.plural}.",
                    f"For all {t.plural}, what are the {n.nl} and the {x.nl}?"],
                   f"SELECT {n.sql}, {x.sql} FROM {t.sql}")


def distinct_values(db, rows, rng):
    t = _entity(db, rng, ("cat",))
    if t is None:
        return None
    c = rng.choice(t.by_role("cat"))
    return Example([f"List every distinct {c.nl} of the {t.plural}.",
                    f"Which distinct {c.nl} values appear among {t.plural}?",
                    f"Show the different {c.nl} values for {t.plural}.",
                    f"What {c.nl} values do the {t.plural} have, without repeats?"],
                   f"SELECT DISTINCT {c.sql} FROM {t.sql}")


def filter_equal(db, rows, rng):
    t = _entity(db, rng, ("cat",))
    if t is None:
        return None
    c = rng.choice(t.by_role("cat"))
    n = t.by_role("name")[0]
    v = _value(rows, t, c.name, rng)
    return Example([f"Which {t.plural} have {c.nl} {v}?",
                    f"List the {n.nl} of {t.plural} whose {c.nl} is {v}.",
                    f"Find all {t.plural} with {c.nl} equal to {v}.",
                    f"Show the {n.nl} of every {t.singular} where the {c.nl} is {v}."],
                   f"SELECT {n.sql} FROM {t.sql} WHERE {c.sql} = {_lit(v)}")


def filter_compare(db, rows, rng):
    t = _entity(db, rng, ("num",))
    if t is None:
        return None
    x = rng.choice(t.by_role("num"))
    n = t.by_role("name")[0]
    v = _value(rows, t, x.name, rng)
    if rng.random() < 0.5:
        return Example([f"Which {t.plural} have a {x.nl} greater than {v}?",
                        f"List the {n.nl} of {t.plural} whose {x.nl} is more than {v}.",
                        f"Find {t.plural} with {x.nl} above {v}.",
                        f"Show every {t.singular} whose {x.nl} exceeds {v}."],
                       f"SELECT {n.sql} FROM {t.sql} WHERE {x.sql} > {v}")
    return Example([f"Which {t.plural} have a {x.nl} less than {v}?",
                    f"List the {n.nl} of {t.plural} whose {x.nl} is below {v}.",
                    f"Find {t.plural} with {x.nl} under {v}.",
                    f"Show every {t.singular} whose {x.nl} is smaller than {v}."],
                   f"SELECT {n.sql} FROM {t.sql} WHERE {x.sql} < {v}")


def filter_between(db, rows, rng):
    t = _entity(db, rng, ("num",))
    if t is None:
        return None
    x = rng.choice(t.by_role("num"))
    n = t.by_role("name")[0]
    a, b = sorted((_value(rows, t, x.name, rng), _value(rows, t, x.name, rng)))
    return Example([f"Which {t.plural} have a {x.nl} between {a} and {b}?",
                    f"List the {n.nl} of {t.plural} whose {x.nl} is between {a} and {b}.",
                    f"Find {t.plural} with {x.nl} from {a} to {b}.",
                    f"Show each {t.singular} whose {x.nl} lies between {a} and {b}."],
                   f"SELECT {n.sql} FROM {t.sql} WHERE {x.sql} BETWEEN {a} AND {b}")


def filter_like(db, rows, rng):
    t = _entity(db, rng)
    if t is None:
        return None
    n = t.by_role("name")[0]
    name = _value(rows, t, n.name, rng)
    letter = name[0]
    if rng.random() < 0.5:
        return Example([f"Which {t.plural} have a {n.nl} starting with {letter}?",
                        f"List {t.plural} whose {n.nl} begins with the letter {letter}.",
                        f"Find the {t.plural} with a {n.nl} that starts with {letter}.",
                        f"Show every {t.singular} whose {n.nl} starts with {letter}."],
                       f"SELECT {n.sql} FROM {t.sql} WHERE {n.sql} LIKE '{letter}%'")
    word = rng.choice(name.split())
    return Example([f"Which {t.plural} have a {n.nl} containing {word}?",
                    f"List {t.plural} whose {n.nl} includes {word}.",
                    f"Find the {t.plural} with {word} in their {n.nl}.",
                    f"Show every {t.singular} whose {n.nl} contains the word {word}."],
                   f"SELECT {n.sql} FROM {t.sql} WHERE {n.sql} LIKE '%{word}%'")


def count_rows(db, rows, rng):
    t = _entity(db, rng, ("cat",))
    if t is None:
        return None
    if rng.random() < 0.4:
        return Example([f"How many {t.plural} are there?",
                        f"Count the {t.plural}.",
                        f"What is the number of {t.plural}?",
                        f"Give the total number of {t.plural}."],
                       f"SELECT COUNT(*) FROM {t.sql}")
    c = rng.choice(t.by_role("cat"))
    v = _value(rows, t, c.name, rng)
    return Example([f"How many {t.plural} have {c.nl} {v}?",
                    f"Count the {t.plural} whose {c.nl} is {v}.",
                    f"What is the number of {t.plural} with {c.nl} {v}?",
                    f"Give the total number of {t.plural} where the {c.nl} is {v}."],
                   f"SELECT COUNT(*) FROM {t.sql} WHERE {c.sql} = {_lit(v)}")


AGGREGATES = (("AVG", "average"), ("MAX", "maximum"), ("MIN", "minimum"), ("SUM", "total"))


def aggregate(db, rows, rng):
    t = _entity(db, rng, ("num", "cat"))
    if t is None:
        return None
    x = rng.choice(t.by_role("num"))
    fn, word = rng.choice(AGGREGATES)
    if rng.random() < 0.5:
        return Example([f"What is the {word} {x.nl} of all {t.plural}?",
                        f"Find the {word} {x.nl} over the {t.plural}.",
                        f"Compute the {word} {x.nl} of {t.plural}.",
                        f"Across all {t.plural}, what is the {word} {x.nl}?"],
                       f"SELECT {fn}({x.sql}) FROM {t.sql}")
    c = rng.choice(t.by_role("cat"))
    v = _value(rows, t, c.name, rng)
    return Example([f"What is the {word} {x.nl} of {t.plural} with {c.nl} {v}?",
                    f"Find the {word} {x.nl} of the {t.plural} whose {c.nl} is {v}.",
                    f"Compute the {word} {x.nl} for {t.plural} where the {c.nl} is {v}.",
                    f"Among {t.plural} with {c.nl} {v}, what is the {word} {x.nl}?"],
                   f"SELECT {fn}({x.sql}) FROM {t.sql} WHERE {c.sql} = {_lit(v)}")


def group_by(db, rows, rng):
    t = _entity(db, rng, ("num", "cat"))
    if t is None:
        return None
    c = rng.choice(t.by_role("cat"))
    if rng.random() < 0.5:
        return Example([f"How many {t.plural} are there for each {c.nl}?",
                        f"Count the {t.plural} in each {c.nl}.",
                        f"For every {c.nl}, give the number of {t.plural}.",
                        f"Show each {c.nl} with its number of {t.plural}."],
                       f"SELECT {c.sql}, COUNT(*) FROM {t.sql} GROUP BY {c.sql}")
    x = rng.choice(t.by_role("num"))
    fn, word = rng.choice(AGGREGATES)
    return Example([f"What is the {word} {x.nl} of {t.plural} for each {c.nl}?",
                    f"Find the {word} {x.nl} of the {t.plural} in each {c.nl}.",
                    f"For every {c.nl}, compute the {word} {x.nl} of {t.plural}.",
                    f"Show each {c.nl} with the {word} {x.nl} of its {t.plural}."],
                   f"SELECT {c.sql}, {fn}({x.sql}) FROM {t.sql} GROUP BY {c.sql}")


def having(db, rows, rng):
    t = _entity(db, rng, ("cat",))
    if t is None:
        return None
    c = rng.choice(t.by_role("cat"))
    counts: dict = {}
    for r in rows[t.name]:
        counts[r[c.name]] = counts.get(r[c.name], 0) + 1
    k = rng.choice(sorted(set(counts.values())))
    k = max(1, k - 1)
    return Example([f"Which {c.nl} values have more than {k} {t.plural}?",
                    f"List the {c.nl} values shared by more than {k} {t.plural}.",
                    f"Find each {c.nl} with more than {k} {t.plural}.",
                    f"Show the {c.nl} values that appear for over {k} {t.plural}."],
                   f"SELECT {c.sql} FROM {t.sql} GROUP BY {c.sql} HAVING COUNT(*) > {k}")


def order_limit(db, rows, rng):
    t = _entity(db, rng, ("num",))
    if t is None:
        return None
    x = rng.choice(t.by_role("num"))
    n = t.by_role("name")[0]
    roll = rng.random()
    if roll < 0.35:
        return Example([f"Which {t.singular} has the highest {x.nl}?",
                        f"Find the {t.singular} with the largest {x.nl}.",
                        f"What is the {n.nl} of the {t.singular} with the greatest {x.nl}?",
                        f"Name the {t.singular} whose {x.nl} is the highest."],
                       f"SELECT {n.sql} FROM {t.sql} ORDER BY {x.sql} DESC LIMIT 1")
    if roll < 0.7:
        return Example([f"Which {t.singular} has the lowest {x.nl}?",
                        f"Find the {t.singular} with the smallest {x.nl}.",
                        f"What is the {n.nl} of the {t.singular} with the least {x.nl}?",
                        f"Name the {t.singular} whose {x.nl} is the lowest."],
                       f"SELECT {n.sql} FROM {t.sql} ORDER BY {x.sql} ASC LIMIT 1")
    k = rng.randint(2, 5)
    return Example([f"List the top {k} {t.plural} by {x.nl}.",
                    f"Show the {k} {t.plural} with the highest {x.nl}.",
                    f"Which {k} {t.plural} have the largest {x.nl}?",
                    f"Give the {n.nl} of the {k} {t.plural} with the greatest {x.nl}."],
                   f"SELECT {n.sql} FROM {t.sql} ORDER BY {x.sql} DESC LIMIT {k}")


def _named_relation(db: Database, rng):
    """A (child, fk, parent) triple where both ends have a name column."""
    options = [(db.table(r.child), r.fk, db.table(r.parent), r.phrase) for r in db.relations]
    return rng.choice(options) if options else None


def join_pairs(db, rows, rng):
    rel = _named_relation(db, rng)
    if rel is None:
        return None
    child, fk, parent, _ = rel
    cn, pn = child.by_role("name")[0], parent.by_role("name")[0]
    return Example([f"List each {child.singular} {cn.nl} with the {pn.nl} of its {parent.singular}.",
                    f"Show every {child.singular} together with its {parent.singular}.",
                    f"For each {child.singular}, give its {cn.nl} and the {parent.singular} {pn.nl}.",
                    f"Pair every {child.singular} with the {parent.singular} it belongs to."],
                   f"SELECT T1.{cn.sql}, T2.{pn.sql} FROM {child.sql} AS T1 JOIN {parent.sql} AS T2 "
                   f"ON T1.{quote(fk)} = T2.{parent.pk.sql}")


def join_filter(db, rows, rng):
    rel = _named_relation(db, rng)
    if rel is None:
        return _bridge_filter(db, rows, rng)
    child, fk, parent, phrase = rel
    cn, pn = child.by_role("name")[0], parent.by_role("name")[0]
    v = _value(rows, parent, pn.name, rng)
    return Example([f"Which {child.plural} {phrase} the {parent.singular} {v}?",
                    f"List the {child.plural} that {phrase} the {parent.singular} named {v}.",
                    f"Find all {child.plural} that {phrase} {v}.",
                    f"Show the {cn.nl} of each {child.singular} that {phrase} the {parent.singular} {v}."],
                   f"SELECT T1.{cn.sql} FROM {child.sql} AS T1 JOIN {parent.sql} AS T2 "
                   f"ON T1.{quote(fk)} = T2.{parent.pk.sql} WHERE T2.{pn.sql} = {_lit(v)}")


def _bridge_filter(db, rows, rng):
    if not db.bridges:
        return None
    b = rng.choice(db.bridges)
    left, right = db.table(b.left), db.table(b.right)
    ln, rn = left.by_role("name")[0], right.by_role("name")[0]
    v = _value(rows, right, rn.name, rng)
    return Example([f"Which {left.plural} {b.verb} the {right.singular} {v}?",
                    f"List the {left.plural} that {b.verb} the {right.singular} named {v}.",
                    f"Find all {left.plural} who {b.verb} {v}.",
                    f"Show the {ln.nl} of each {left.singular} that {b.verb} the {right.singular} {v}."],
                   f"SELECT DISTINCT T1.{ln.sql} FROM {left.sql} AS T1 JOIN {quote(b.table)} AS T2 "
                   f"ON T1.{left.pk.sql} = T2.{quote(b.left_fk)} JOIN {right.sql} AS T3 "
                   f"ON T2.{quote(b.right_fk)} = T3.{right.pk.sql} WHERE T3.{rn.sql} = {_lit(v)}")


def join_group(db, rows, rng):
    rel = _named_relation(db, rng)
    if rel is None:
        b = rng.choice(db.bridges)
        child, fk, parent = db.table(b.table), b.right_fk, db.table(b.right)
    else:
        child, fk, parent, _ = rel
    pn = parent.by_role("name")[0]
    return Example([f"How many {child.plural} does each {parent.singular} have?",
                    f"Count the {child.plural} of every {parent.singular}.",
                    f"For each {parent.singular} {pn.nl}, give the number of {child.plural}.",
                    f"Show every {parent.singular} with its number of {child.plural}."],
                   f"SELECT T2.{pn.sql}, COUNT(*) FROM {child.sql} AS T1 JOIN {parent.sql} AS T2 "
                   f"ON T1.{quote(fk)} = T2.{parent.pk.sql} GROUP BY T2.{pn.sql}")


def _any_relation(db: Database, rng):
    """(child, fk, parent) over relations and both sides of bridges."""
    options = [(db.table(r.child), r.fk, db.table(r.parent)) for r in db.relations]
    for b in db.bridges:
        options += [(db.table(b.table), b.left_fk, db.table(b.left)), (db.table(b.table), b.right_fk, db.table(b.right))]
    return rng.choice(options)


def nested_in(db, rows, rng):
    child, fk, parent = _any_relation(db, rng)
    pn = parent.by_role("name")[0]
    if rng.random() < 0.5:
        return Example([f"Which {parent.plural} have at least one {child.singular}?",
                        f"List the {parent.plural} that have some {child.plural}.",
                        f"Find every {parent.singular} with one or more {child.plural}.",
                        f"Show the {pn.nl} of {parent.plural} that appear in any {child.singular}."],
                       f"SELECT {pn.sql} FROM {parent.sql} WHERE {parent.pk.sql} IN "
                       f"(SELECT {quote(fk)} FROM {child.sql})")
    return Example([f"Which {parent.plural} have no {child.plural}?",
                    f"List the {parent.plural} without any {child.plural}.",
                    f"Find every {parent.singular} that has no {child.singular}.",
                    f"Show the {pn.nl} of {parent.plural} that never appear in a {child.singular}."],
                   f"SELECT {pn.sql} FROM {parent.sql} WHERE {parent.pk.sql} NOT IN "
                   f"(SELECT {quote(fk)} FROM {child.sql})")


def set_operation(db, rows, rng):
    t = _entity(db, rng, ("num", "cat"))
    if t is None:
        return None
    c = rng.choice(t.by_role("cat"))
    x = rng.choice(t.by_role("num"))
    a, b = sorted((_value(rows, t, x.name, rng), _value(rows, t, x.name, rng)))
    base = f"SELECT {c.sql} FROM {t.sql} WHERE {x.sql}"
    roll = rng.random()
    if roll < 0.34:
        return Example([f"Which {c.nl} values have both a {t.singular} with {x.nl} above {b} and one with "
                        f"{x.nl} below {a}?",
                        f"List the {c.nl} values that have {t.plural} with {x.nl} over {b} and also {t.plural} "
                        f"with {x.nl} under {a}.",
                        f"Find each {c.nl} having a {t.singular} with {x.nl} greater than {b} as well as one with "
                        f"{x.nl} less than {a}.",
                        f"Show the {c.nl} values shared by {t.plural} whose {x.nl} is above {b} and {t.plural} "
                        f"whose {x.nl} is below {a}."],
                       f"{base} > {b} INTERSECT {base} < {a}")
    if roll < 0.67:
        return Example([f"Which {c.nl} values have a {t.singular} with {x.nl} above {b} or below {a}?",
                        f"List the {c.nl} values of {t.plural} whose {x.nl} is over {b} or under {a}.",
                        f"Find each {c.nl} having a {t.singular} with {x.nl} greater than {b} or less than {a}.",
                        f"Show the {c.nl} of every {t.singular} whose {x.nl} is either above {b} or below {a}."],
                       f"{base} > {b} UNION {base} < {a}")
    n = t.by_role("name")[0]
    v = _value(rows, t, c.name, rng)
    return Example([f"Which {t.plural} have {c.nl} {v} but not a {x.nl} above {b}?",
                    f"List the {t.plural} whose {c.nl} is {v}, excluding those with {x.nl} over {b}.",
                    f"Find {t.plural} with {c.nl} {v} except the ones whose {x.nl} is greater than {b}.",
                    f"Show the {n.nl} of {t.plural} with {c.nl} {v}, leaving out any with {x.nl} above {b}."],
                   f"SELECT {n.sql} FROM {t.sql} WHERE {c.sql} = {_lit(v)} EXCEPT "
                   f"SELECT {n.sql} FROM {t.sql} WHERE {x.sql} > {b}")


PATTERNS: tuple[Pattern, ...] = (
    projection, distinct_values, filter_equal, filter_compare, filter_between, filter_like, count_rows,
    aggregate, group_by, having, order_limit, join_pairs, join_filter, _bridge_filter, join_group, nested_in,
    set_operation,
)
