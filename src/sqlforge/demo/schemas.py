"""The demo's databases: built from a domain of the catalog (demo.catalog), each with its own names.

Each table has an integer primary key; entity tables have a `name`-role
column; relations are foreign keys from a child to a parent table, and
bridge tables link two parents (customer -> purchase <- product). A database
picks, per concept, one of its table names (dev databases only the held-out
last one), two or three of its columns with one of their names each, and
one naming style for all its identifiers (snake_case, PascalCase, plural
table names, UPPER CASE); some have a column whose name holds a space, and
some name tables with SQL keywords (`order`), quoted wherever SQL uses them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from sqlforge.demo.catalog import COLUMN_QUALIFIERS, CONCEPTS, EVENTS, TABLE_QUALIFIERS, Attr, Concept, Domain
from sqlforge.identifiers import quote


@dataclass(frozen=True)
class Col:
    name: str
    type: str  # INTEGER | REAL | TEXT
    nl: str
    role: str  # pk | name | cat | num | fk
    gen: tuple = ()  # value generator spec, see demo.generate._values
    ref: str = ""  # parent table for role == "fk"

    @property
    def sql(self) -> str:
        """The name as SQL writes it (quoted where SQLite needs it)."""
        return quote(self.name)


@dataclass(frozen=True)
class Table:
    name: str
    singular: str
    plural: str
    rows: int
    cols: tuple[Col, ...]

    @property
    def sql(self) -> str:
        return quote(self.name)

    @property
    def pk(self) -> Col:
        return next(c for c in self.cols if c.role == "pk")

    def by_role(self, role: str) -> list[Col]:
        return [c for c in self.cols if c.role == role]


@dataclass(frozen=True)
class Relation:
    """child.fk -> parent.pk, with a verb phrase: '<child plural> <phrase> the <parent> X'."""
    child: str
    fk: str
    parent: str
    phrase: str


@dataclass(frozen=True)
class Bridge:
    """left <- table -> right: '<left plural> that <verb> the <right> X'."""
    table: str
    left: str
    left_fk: str
    right: str
    right_fk: str
    verb: str


@dataclass(frozen=True)
class Database:
    db_id: str
    tables: tuple[Table, ...]
    relations: tuple[Relation, ...] = ()
    bridges: tuple[Bridge, ...] = field(default=())

    def table(self, name: str) -> Table:
        return next(t for t in self.tables if t.name == name)


STYLES = ("snake", "snake", "snake", "pascal", "plural", "upper")
SPACED_COLUMN_SHARE = 0.15  # databases with one column whose name holds a space (as BIRD's names do)
QUALIFIED_TABLE_SHARE = 0.6  # entity tables named with a qualifier before the concept's name: "regional_clinic"
QUALIFIED_COLUMN_SHARE = 0.3  # category and number columns likewise: "recorded_age"


def _styled(snake: str, style: str) -> str:
    if style == "pascal":
        return "".join(part.capitalize() for part in snake.split("_"))
    if style == "upper":
        return snake.upper()
    return snake


def _variant(concept: Concept, held_out: bool, rng: random.Random) -> tuple[str, str, str]:
    base, singular, plural = concept.tables[-1] if held_out else rng.choice(concept.tables[:-1])
    if concept.label is not None and rng.random() < QUALIFIED_TABLE_SHARE:  # entity tables, not events
        q = rng.choice(TABLE_QUALIFIERS["dev" if held_out else "train"])
        return f"{q}_{base}", f"{q} {singular}", f"{q} {plural}"
    return base, singular, plural


def _column(attr: Attr, style: str, held_out: bool, rng: random.Random) -> Col:
    name, nl = rng.choice(attr.names), attr.nl
    if attr.role in ("cat", "num") and rng.random() < QUALIFIED_COLUMN_SHARE:
        q = rng.choice(COLUMN_QUALIFIERS["dev" if held_out else "train"])
        name, nl = f"{q}_{name}", f"{q} {nl}"
    return Col(_styled(name, style), attr.type, nl, attr.role, attr.gen)


def build_database(domain: Domain, db_id: str, held_out: bool, rng: random.Random) -> Database:
    """One database of `domain`: its names drawn with `rng`, from the dev-only names when `held_out`."""
    concepts = {c.key: c for c in CONCEPTS + EVENTS}
    style = rng.choice(STYLES)
    short_pk = rng.random() < 0.25  # every key is `id` (the foreign keys still say whose)
    names: dict[str, tuple[str, str, str]] = {}
    pk_of: dict[str, str] = {}
    fk_of: dict[str, str] = {}  # a foreign key to the concept's table
    for key in domain.concepts + tuple(e.event for e in domain.events):
        base, singular, plural = _variant(concepts[key], held_out, rng)
        table = _styled(base + "s" if style == "plural" and not base.endswith("s") else base, style)
        names[key] = (table, singular, plural)
        fk_of[key] = _styled(f"{base}_id", style)
        pk_of[key] = _styled("id", style) if short_pk else fk_of[key]

    def attrs_of(concept: Concept) -> list[Col]:
        picked = rng.sample(concept.attrs, min(len(concept.attrs), rng.randint(2, 3)))
        return [_column(a, style, held_out, rng) for a in picked]

    tables = []
    for key in domain.concepts:
        concept = concepts[key]
        table, singular, plural = names[key]
        assert concept.label is not None, key
        cols = [Col(pk_of[key], "INTEGER", f"{singular} id", "pk"), _column(concept.label, style, held_out, rng)]
        cols += [Col(fk_of[link.parent], "INTEGER", f"{names[link.parent][1]} id", "fk", ref=names[link.parent][0])
                 for link in domain.links if link.child == key]
        cols += attrs_of(concept)
        tables.append(Table(table, singular, plural, rng.randint(*concept.rows), tuple(cols)))
    for event in domain.events:
        concept = concepts[event.event]
        table, singular, plural = names[event.event]
        cols = [Col(pk_of[event.event], "INTEGER", f"{singular} id", "pk")]
        cols += [Col(fk_of[side], "INTEGER", f"{names[side][1]} id", "fk", ref=names[side][0])
                 for side in (event.left, event.right)]
        cols += attrs_of(concept)
        tables.append(Table(table, singular, plural, rng.randint(*concept.rows), tuple(cols)))
    if rng.random() < SPACED_COLUMN_SHARE:
        tables = _one_spaced_column(tables, rng)
    relations = tuple(Relation(names[link.child][0], fk_of[link.parent], names[link.parent][0], link.phrase)
                      for link in domain.links)
    bridges = tuple(Bridge(names[e.event][0], names[e.left][0], fk_of[e.left], names[e.right][0], fk_of[e.right],
                           e.verb) for e in domain.events)
    return Database(db_id, tuple(tables), relations, bridges)


def _one_spaced_column(tables: list[Table], rng: random.Random) -> list[Table]:
    """One category or number column whose name has two words gets them with a space between."""
    options = [(i, j) for i, t in enumerate(tables) for j, c in enumerate(t.cols)
               if c.role in ("cat", "num") and "_" in c.name]
    if not options:
        return tables
    i, j = rng.choice(options)
    t = tables[i]
    cols = list(t.cols)
    cols[j] = Col(cols[j].name.replace("_", " "), cols[j].type, cols[j].nl, cols[j].role, cols[j].gen)
    tables = list(tables)
    tables[i] = Table(t.name, t.singular, t.plural, t.rows, tuple(cols))
    return tables
