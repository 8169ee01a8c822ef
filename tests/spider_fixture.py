"""Two small Spider-format databases for the official EM / hardness tests.

`music`: singer, stadium, concert, singer_in_concert (composite primary key, two foreign
keys), with `name` in two tables so that qualifiers matter. `rail`: train has the SQL
keyword columns From and To (as Spider's railway does), route links train and station.
Built as tables.json entries; `build_databases` writes matching SQLite files.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

_TABLES = {
    "music": {
        "singer": ["singer_id", "name", "country", "age", "is_male"],
        "stadium": ["stadium_id", "name", "location", "capacity"],
        "concert": ["concert_id", "concert_name", "theme", "stadium_id", "year"],
        "singer_in_concert": ["concert_id", "singer_id"],
    },
    "rail": {
        "train": ["train_id", "name", "From", "To", "time"],
        "station": ["station_id", "name", "location"],
        "route": ["train_id", "station_id"],
    },
}
_PRIMARY = {"music": [["singer", "singer_id"], ["stadium", "stadium_id"], ["concert", "concert_id"],
                      ["singer_in_concert", ("concert_id", "singer_id")]],
            "rail": [["train", "train_id"], ["station", "station_id"], ["route", ("train_id", "station_id")]]}
_FOREIGN = {"music": [(("concert", "stadium_id"), ("stadium", "stadium_id")),
                      (("singer_in_concert", "singer_id"), ("singer", "singer_id")),
                      (("singer_in_concert", "concert_id"), ("concert", "concert_id"))],
            "rail": [(("route", "train_id"), ("train", "train_id")),
                     (("route", "station_id"), ("station", "station_id"))]}


def tables_entry(db_id: str) -> dict:
    tables = list(_TABLES[db_id])
    columns = [[-1, "*"]] + [[t, c] for t, name in enumerate(tables) for c in _TABLES[db_id][name]]

    def index(table: str, column: str) -> int:
        return columns.index([tables.index(table), column])
    primary = [index(t, c) if isinstance(c, str) else [index(t, x) for x in c] for t, c in _PRIMARY[db_id]]
    return {
        "db_id": db_id, "table_names_original": tables, "table_names": tables,
        "column_names_original": columns, "column_names": [[t, c.lower()] for t, c in columns],
        "column_types": ["text"] * len(columns), "primary_keys": primary,
        "foreign_keys": [[index(*a), index(*b)] for a, b in _FOREIGN[db_id]],
    }


TABLES = {db_id: tables_entry(db_id) for db_id in _TABLES}


def build_databases(root: Path) -> Path:
    """database/<db_id>/<db_id>.sqlite for both databases, a few rows each."""
    for db_id, tables in _TABLES.items():
        folder = root / db_id
        folder.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(folder / f"{db_id}.sqlite") as conn:
            for table, cols in tables.items():
                conn.execute(f'CREATE TABLE "{table}" ({", ".join(f"{chr(34)}{c}{chr(34)}" for c in cols)})')
                conn.executemany(f'INSERT INTO "{table}" VALUES ({", ".join("?" * len(cols))})',
                                 [tuple(i if c.endswith("id") else f"{c}{i}" for c in cols) for i in range(3)])
        conn.close()
    return root
