"""Damaged or hostile dataset files give one line naming the file and the record, never a traceback: a db_id
too long for a file name, and tables.json entries with an index out of range, a table name that is not a
string, or a foreign key of one column, in `sqlforge evaluate` and in dataset loading (fetch, preprocess)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO
from sqlforge.data.datasets import load_split
from sqlforge.io import InputError

LONG = "d" * 300


def _cli(*args) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return subprocess.run([sys.executable, "-m", "sqlforge.commands", *map(str, args)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)


def _one_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: "), proc.stderr
    return proc.stderr


def _entry(**changes) -> dict:
    entry = {"db_id": "shop", "table_names_original": ["customer", "orders"],
             "table_names": ["customer", "orders"],
             "column_names_original": [[-1, "*"], [0, "id"], [0, "name"], [1, "id"], [1, "customer_id"]],
             "column_names": [[-1, "*"], [0, "id"], [0, "name"], [1, "id"], [1, "customer id"]],
             "column_types": ["text", "number", "text", "number", "number"], "primary_keys": [1, 3],
             "foreign_keys": [[4, 1]]}
    return {**entry, **changes}


BAD_ENTRIES = {
    "column index out of range": (_entry(column_names_original=[[-1, "*"], [0, "id"], [5, "name"], [1, "id"],
                                                                [1, "customer_id"]]), "has table index 5"),
    "integer table names": (_entry(table_names_original=[1, 2]), "table 0 has name 1"),
    "one-element foreign key": (_entry(foreign_keys=[[4]]), "foreign key [4] is not"),
    "primary key out of range": (_entry(primary_keys=[99]), "primary key 99"),
}


def _spider(root: Path, entry: dict, db_id: str = "shop") -> Path:
    (root / "database" / "shop").mkdir(parents=True)
    conn = sqlite3.connect(root / "database" / "shop" / "shop.sqlite")
    conn.executescript("CREATE TABLE customer (id INTEGER PRIMARY KEY, name TEXT);"
                       "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER);")
    conn.close()
    (root / "tables.json").write_text(json.dumps([entry]))
    record = [{"db_id": db_id, "question": "How many?", "query": "SELECT count(*) FROM customer"}]
    (root / "train_spider.json").write_text(json.dumps(record))
    (root / "dev.json").write_text(json.dumps(record))
    return root


@pytest.mark.parametrize("name", BAD_ENTRIES)
def test_bad_tables_json_is_one_line_in_loading_and_evaluate(tmp_path, name):
    """Before: IndexError, TypeError or ValueError from deep inside schema text, hardness or exact match."""
    entry, message = BAD_ENTRIES[name]
    root = _spider(tmp_path / "spider", entry)
    with pytest.raises(InputError) as info:  # what fetch and preprocess call
        load_split(root, "spider", "dev")
    assert str(root / "tables.json") in str(info.value) and "schema 0 ('shop')" in str(info.value)
    assert message in str(info.value), str(info.value)
    (tmp_path / "gold.sql").write_text("SELECT count(*) FROM customer\tshop\n")
    (tmp_path / "pred.sql").write_text("SELECT count(*) FROM customer\n")
    err = _one_line(_cli("evaluate", "--rules", "spider", "--gold", tmp_path / "gold.sql", "--pred",
                         tmp_path / "pred.sql", "--db", root / "database", "--tables", root / "tables.json",
                         "--out", tmp_path / "v.jsonl"))
    assert "tables.json: schema 0 ('shop')" in err and message in err, err


def test_a_db_id_too_long_for_a_file_name_is_one_line(tmp_path):
    """Before: OSError (file name too long) with a traceback, in evaluate and in fetch's loading."""
    root = _spider(tmp_path / "spider", _entry(db_id=LONG), db_id=LONG)
    with pytest.raises(InputError) as info:
        load_split(root, "spider", "dev")
    assert "too long for a file name" in str(info.value) and "tables.json: schema 0" in str(info.value)
    (tmp_path / "gold.sql").write_text(f"SELECT 1\t{LONG}\n")
    (tmp_path / "pred.sql").write_text("SELECT 1\n")
    err = _one_line(_cli("evaluate", "--rules", "spider", "--gold", tmp_path / "gold.sql", "--pred",
                         tmp_path / "pred.sql", "--db", root / "database", "--etype", "exec",
                         "--out", tmp_path / "v.jsonl"))
    assert "gold.sql" in err and "too long for a file name" in err, err
