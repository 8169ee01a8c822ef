"""Deterministic demo dataset in Spider's on-disk format.

Writes `train_spider.json`, `dev.json`, `tables.json` and
`database/<db_id>/<db_id>.sqlite`, so the same loader reads the demo and the
real Spider. Questions come from templated patterns with several phrasings;
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

from sqlforge.demo.patterns import PATTERNS, Example
from sqlforge.demo.schemas import ADJECTIVES, DATABASES, FIRST_NAMES, LAST_NAMES, NOUNS, Database, Table
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
        train, _ = _sample_split(dbs, rng, train_questions, 0.0, seen, conns)
        dev, dev_unseen = _sample_split(dbs, rng, dev_questions, UNSEEN_PHRASING_FRACTION, seen, conns)
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
        "dev_unseen_phrasing": dev_unseen / max(1, len(dev)),
        "dev_sql_also_in_train": sum(r["query"] in train_sql for r in dev) / max(1, len(dev)),
    }
