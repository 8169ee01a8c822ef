"""Deterministic demo dataset in Spider's on-disk format, in-domain or cross-database.

Writes `train_spider.json`, `dev.json`, `tables.json` and
`database/<db_id>/<db_id>.sqlite`, so the same loader reads the demo and the
real Spider. In-domain (`data.demo.layout: in_domain`), train and dev share five
fixed databases (demo.in_domain). Cross-database (`cross_database`, as Spider
and BIRD are), train questions are over one set of databases and dev questions
over others that never appear in train, named with table names train never
uses (demo.catalog), so a model must read the schema in its prompt.
Questions come from templated patterns with several phrasings;
the last phrasing of every pattern is held out of train, and exactly a quarter
of dev (`UNSEEN_PHRASING_FRACTION`) uses it, so dev has unseen phrasings as
well as unseen question texts. The quarter is a quota, not a coin flip: dev
questions in a seen phrasing often collide with train texts and are redrawn,
which left to chance made half of dev unseen-phrasing.
"""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

from sqlforge.demo.catalog import ADJECTIVES, DOMAINS, FIRST_NAMES, LAST_NAMES, NOUNS
from sqlforge.demo.in_domain import DATABASES as IN_DOMAIN_DATABASES
from sqlforge.demo.patterns import PATTERNS, Example
from sqlforge.demo.schemas import Database, Table, build_database
from sqlforge.identifiers import quote
from sqlforge.official.hardness import spider_hardness
from sqlforge.io import write_json

UNSEEN_PHRASING_FRACTION = 0.25


def _values(spec: tuple, n: int, rng: random.Random) -> list:
    kind = spec[0]
    if kind == "person":
        pool = [f"{f} {l}" for f in FIRST_NAMES for l in LAST_NAMES]
        return rng.sample(pool, n)
    if kind == "title":
        pool = [f"The {a} {b}" for a in ADJECTIVES for b in NOUNS]
        return rng.sample(pool, n)
    if kind == "brand":
        pool = [f"{a} {b} {spec[1]}" for a in ADJECTIVES for b in NOUNS]
        return rng.sample(pool, n)
    if kind == "code":
        return [f"{spec[1]}-{k}" for k in rng.sample(range(100, 1000), n)]
    if kind == "real":
        return [round(rng.uniform(spec[1], spec[2]), 2) for _ in range(n)]
    if kind == "pick":
        return rng.sample(list(spec[1]), n)
    if kind == "choice":
        return [rng.choice(spec[1]) for _ in range(n)]
    if kind == "int":
        _, lo, hi, scale = spec
        return [rng.randint(lo, hi) * scale for _ in range(n)]
    raise ValueError(f"unknown value generator {spec}")


def build_rows(db: Database, rng: random.Random) -> dict[str, list[dict]]:
    rows: dict[str, list[dict]] = {}
    for table in db.tables:  # parents are listed before children
        columns: dict[str, list] = {}
        for col in table.cols:
            if col.role == "pk":
                columns[col.name] = list(range(1, table.rows + 1))
            elif col.role == "fk":
                # leave the last parents childless so NOT IN questions have answers
                parents = [r[db.table(col.ref).pk.name] for r in rows[col.ref]]
                usable = parents[: max(1, int(len(parents) * 0.8))]
                columns[col.name] = [rng.choice(usable) for _ in range(table.rows)]
            else:
                columns[col.name] = _values(col.gen, table.rows, rng)
        rows[table.name] = [{c.name: columns[c.name][i] for c in table.cols} for i in range(table.rows)]
    return rows


def _create_sql(db: Database, table: Table) -> str:
    parts = []
    for col in table.cols:
        parts.append(f"{col.sql} {col.type}" + (" PRIMARY KEY" if col.role == "pk" else ""))
    for col in table.by_role("fk"):
        parts.append(f"FOREIGN KEY ({col.sql}) REFERENCES {quote(col.ref)}({db.table(col.ref).pk.sql})")
    return f"CREATE TABLE {table.sql} ({', '.join(parts)})"


def write_sqlite(db: Database, rows: dict[str, list[dict]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    try:
        for table in db.tables:
            conn.execute(_create_sql(db, table))
            names = [c.name for c in table.cols]
            conn.executemany(f"INSERT INTO {table.sql} ({', '.join(c.sql for c in table.cols)}) "
                             f"VALUES ({', '.join('?' * len(names))})",
                             [tuple(r[n] for n in names) for r in rows[table.name]])
        conn.commit()
    finally:
        conn.close()


def tables_entry(db: Database) -> dict:
    names_original, column_names, column_types = [[-1, "*"]], [[-1, "*"]], ["text"]
    primary_keys, foreign_keys, index = [], [], {}
    for t_idx, table in enumerate(db.tables):
        for col in table.cols:
            index[(table.name, col.name)] = len(names_original)
            names_original.append([t_idx, col.name])
            column_names.append([t_idx, col.nl])
            column_types.append("number" if col.type in ("INTEGER", "REAL") else "text")
    for table in db.tables:
        primary_keys.append(index[(table.name, table.pk.name)])
        for col in table.by_role("fk"):
            foreign_keys.append([index[(table.name, col.name)], index[(col.ref, db.table(col.ref).pk.name)]])
    return {
        "db_id": db.db_id,
        "table_names_original": [t.name for t in db.tables],
        "table_names": [t.singular for t in db.tables],
        "column_names_original": names_original,
        "column_names": column_names,
        "column_types": column_types,
        "primary_keys": primary_keys,
        "foreign_keys": foreign_keys,
    }


def _spider_record(ex: Example, db_id: str) -> dict:
    return {
        "db_id": db_id,
        "question": ex.question,
        "question_toks": ex.question.split(),
        "query": ex.sql,
        "query_toks": ex.sql.split(),
        "difficulty": spider_hardness(ex.sql),
    }


def _sample_split(dbs, rng, count: int, unseen_fraction: float, seen: set[str], conns) -> tuple[list[dict], int]:
    """Draw `count` distinct examples, `round(count * unseen_fraction)` of them in a pattern's held-out last
    phrasing (train: 0). Returns the records and how many use the held-out phrasing."""
    unseen_quota = round(count * unseen_fraction)
    records, unseen_used, attempts = [], 0, 0
    while len(records) < count:
        attempts += 1
        if attempts > count * 200:
            raise RuntimeError(f"could not draw {count} distinct demo questions")
        db, rows = rng.choice(dbs)
        pattern = rng.choice(PATTERNS)
        ex = pattern(db, rows, rng)
        if ex is None:
            continue
        n_phr = len(ex.phrasings)
        unseen = False
        if unseen_fraction > 0 and n_phr > 1:  # train draws stay exactly as they were without the quota
            seen_left = (count - unseen_quota) - (len(records) - unseen_used)
            unseen = unseen_used < unseen_quota and (seen_left <= 0 or rng.random() < unseen_fraction)
        choice = n_phr - 1 if unseen else rng.randrange(max(1, n_phr - 1))
        ex = Example(ex.phrasings[choice:choice + 1], ex.sql)
        if ex.question in seen:
            continue
        result = conns[db.db_id].execute(ex.sql).fetchall()  # every gold executes
        if not result:
            continue
        seen.add(ex.question)
        records.append(_spider_record(ex, db.db_id))
        unseen_used += unseen
    return records, unseen_used


def build_databases(rng: random.Random, count: int, held_out: bool, prefix: str) -> list[Database]:
    """`count` databases, the domains taken in turn (shuffled), each with names drawn anew."""
    domains = list(DOMAINS)
    rng.shuffle(domains)
    return [build_database(domains[i % len(domains)], f"{domains[i % len(domains)].key}_{prefix}{i // len(domains) + 1}",
                           held_out, rng) for i in range(count)]


LAYOUTS = ("in_domain", "cross_database")


def generate_demo(out_dir: str | Path, seed: int, train_questions: int, dev_questions: int, layout: str,
                  train_databases: int, dev_databases: int) -> dict:
    """Write the demo dataset into `out_dir` and return counts for the metrics file. `layout`: in_domain
    (train and dev over the five databases of demo.in_domain) or cross_database (train over
    `train_databases` built from the catalog, dev over `dev_databases` others with held-out names)."""
    out = Path(out_dir)
    rng = random.Random(seed)
    if layout == "in_domain":
        train_dbs = dev_dbs = list(IN_DOMAIN_DATABASES)
    elif layout == "cross_database":
        train_dbs = build_databases(rng, train_databases, held_out=False, prefix="")
        dev_dbs = build_databases(rng, dev_databases, held_out=True, prefix="d")
        # dev's table names are held out of train: no dev question's SQL can name a train table
        train_tables = {t.name.lower() for db in train_dbs for t in db.tables}
        shared = sorted({t.name for db in dev_dbs for t in db.tables if t.name.lower() in train_tables})
        assert not shared, f"dev table names also in train: {shared}"
    else:
        raise ValueError(f"unknown demo layout {layout!r}: one of {LAYOUTS}")
    databases = train_dbs + [db for db in dev_dbs if db not in train_dbs]
    conns = {}
    built = {}
    for db in databases:
        rows = build_rows(db, rng)
        path = out / "database" / db.db_id / f"{db.db_id}.sqlite"
        write_sqlite(db, rows, path)
        conns[db.db_id] = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        built[db.db_id] = (db, rows)
    try:
        seen: set[str] = set()
        train, _ = _sample_split([built[db.db_id] for db in train_dbs], rng, train_questions, 0.0, seen, conns)
        dev, dev_unseen = _sample_split([built[db.db_id] for db in dev_dbs], rng, dev_questions,
                                        UNSEEN_PHRASING_FRACTION, seen, conns)
    finally:
        for conn in conns.values():
            conn.close()
    write_json(out / "train_spider.json", train)
    write_json(out / "dev.json", dev)
    write_json(out / "tables.json", [tables_entry(db) for db in databases])
    train_sql, train_ids = {r["query"] for r in train}, {r["db_id"] for r in train}
    return {
        "layout": layout,
        "databases": len(databases),
        "train_databases": len(train_ids),
        "dev_databases": len({r["db_id"] for r in dev}),
        "dev_databases_in_train": len({r["db_id"] for r in dev} & train_ids),
        "train": len(train),
        "dev": len(dev),
        "dev_unseen_phrasing": dev_unseen / max(1, len(dev)),
        "dev_sql_also_in_train": sum(r["query"] in train_sql for r in dev) / max(1, len(dev)),
    }
