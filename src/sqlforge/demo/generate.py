"""Deterministic demo dataset in Spider's on-disk format.

Writes `train_spider.json`, `dev.json`, `tables.json` and
`database/<db_id>/<db_id>.sqlite`, so the same loader reads the demo and the
real Spider. Questions come from templated patterns with several phrasings;
the last phrasing of every pattern is held out of train, so dev has unseen
phrasings as well as unseen question texts.
"""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

from sqlforge.demo.patterns import PATTERNS, Example
from sqlforge.demo.schemas import ADJECTIVES, DATABASES, FIRST_NAMES, LAST_NAMES, NOUNS, Database, Table
from sqlforge.difficulty import spider_hardness
from sqlforge.io import write_json


def _values(spec: tuple, n: int, rng: random.Random) -> list:
    kind = spec[0]
    if kind == "person":
        pool = [f"{f} {l}" for f in FIRST_NAMES for l in LAST_NAMES]
        return rng.sample(pool, n)
    if kind == "title":
        pool = [f"The {a} {b}" for a in ADJECTIVES for b in NOUNS]
        return rng.sample(pool, n)
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
        parts.append(f"{col.name} {col.type}" + (" PRIMARY KEY" if col.role == "pk" else ""))
    for col in table.by_role("fk"):
        parts.append(f"FOREIGN KEY ({col.name}) REFERENCES {col.ref}({db.table(col.ref).pk.name})")
    return f"CREATE TABLE {table.name} ({', '.join(parts)})"


def write_sqlite(db: Database, rows: dict[str, list[dict]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    try:
        for table in db.tables:
            conn.execute(_create_sql(db, table))
            names = [c.name for c in table.cols]
            conn.executemany(f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
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


def _sample_split(dbs, rng, count: int, held_out: bool, seen: set[str], conns) -> list[dict]:
    """Draw `count` distinct examples; train (held_out=False) never uses a pattern's last phrasing."""
    records, attempts = [], 0
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
        choice = rng.randrange(n_phr) if held_out else rng.randrange(max(1, n_phr - 1))
        ex = Example(ex.phrasings[choice:choice + 1], ex.sql)
        if ex.question in seen:
            continue
        result = conns[db.db_id].execute(ex.sql).fetchall()  # every gold executes
        if not result:
            continue
        seen.add(ex.question)
        records.append(_spider_record(ex, db.db_id))
    return records


def generate_demo(out_dir: str | Path, seed: int, train_questions: int, dev_questions: int) -> dict:
    """Write the demo dataset into `out_dir` and return counts for the metrics file."""
    out = Path(out_dir)
    rng = random.Random(seed)
    dbs = []
    conns = {}
    for db in DATABASES:
        rows = build_rows(db, rng)
        path = out / "database" / db.db_id / f"{db.db_id}.sqlite"
        write_sqlite(db, rows, path)
        conns[db.db_id] = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        dbs.append((db, rows))
    try:
        seen: set[str] = set()
        train = _sample_split(dbs, rng, train_questions, held_out=False, seen=seen, conns=conns)
        dev = _sample_split(dbs, rng, dev_questions, held_out=True, seen=seen, conns=conns)
    finally:
        for conn in conns.values():
            conn.close()
    write_json(out / "train_spider.json", train)
    write_json(out / "dev.json", dev)
    write_json(out / "tables.json", [tables_entry(db) for db in DATABASES])
    train_sql = {r["query"] for r in train}
    return {
        "databases": len(DATABASES),
        "train": len(train),
        "dev": len(dev),
        "dev_sql_also_in_train": sum(r["query"] in train_sql for r in dev) / max(1, len(dev)),
    }
