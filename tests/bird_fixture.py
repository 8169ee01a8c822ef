"""A BIRD-format dev set (dev.json, dev_gold.sql-style gold, predict_dev.json, dev_databases/) whose
(gold, prediction) pairs exercise Soft-F1, VES and R-VES: duplicates, row order, row counts, NULLs, mixed
types, empty results, failing queries, and two pairs slow enough (milliseconds) for their times to be measured."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from sqlforge.scoring.official_files import bird_prediction_text, difficulty_lines, gold_text

SHOP_SQL = """
CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT, price REAL, tag TEXT, stock INTEGER);
INSERT INTO item VALUES (1, 'pen', 1.5, 'office', 10), (2, 'ink', 3.0, 'office', NULL), (3, 'mug', 4.0, NULL, 3),
  (4, 'tea', 2.0, 'food', 1), (5, 'jam', 3.0, 'food', 0), (6, 'cup', 4.0, NULL, 3);
CREATE TABLE big (n INTEGER, m INTEGER);
WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 60000)
INSERT INTO big SELECT i, i % 97 FROM r;
"""
# a scan of `big`: a few milliseconds, long enough for its run time to be measured
SLOW_COUNT = "SELECT count(*) FROM big WHERE m % 7 = 3"

# (gold, prediction, difficulty)
CASES = [
    ("SELECT name, price FROM item", "SELECT name, price FROM item", "simple"),  # identical
    ("SELECT name, price FROM item", "SELECT price, name FROM item", "simple"),  # columns swapped: EX wrong
    ("SELECT tag FROM item", "SELECT DISTINCT tag FROM item", "moderate"),  # duplicates and NULLs
    ("SELECT id FROM item ORDER BY id", "SELECT id FROM item ORDER BY id DESC", "moderate"),  # row order
    ("SELECT id, name FROM item ORDER BY id LIMIT 3", "SELECT id, name FROM item ORDER BY id LIMIT 5", "simple"),
    ("SELECT id, stock FROM item ORDER BY id", "SELECT id, tag FROM item ORDER BY id", "challenging"),  # NULLs
    ("SELECT price FROM item WHERE id < 3", "SELECT CAST(price AS INTEGER) FROM item WHERE id < 3", "moderate"),
    ("SELECT 2 * 1.0, 'x'", "SELECT 2, 'x'", "simple"),  # 2.0 against 2: equal values
    ("SELECT name FROM item WHERE id > 99", "SELECT id FROM item WHERE 0", "simple"),  # both empty
    ("SELECT name FROM item", "SELECT name FROM item WHERE 0", "challenging"),  # the prediction empty
    ("SELECT name FROM item", "SELEC name FROM item", "moderate"),  # the prediction fails
    ("SELECT nope FROM item", "SELECT name FROM item", "challenging"),  # the gold fails
    (SLOW_COUNT, SLOW_COUNT + " AND n > 0", "moderate"),  # right, measurable
    ("SELECT count(*) FROM big", "SELECT count(*) FROM big WHERE n + 0 = n", "challenging"),  # right, slower
]


def make_bird_metrics_set(root: Path, cases: list[tuple] = CASES) -> dict[str, Path]:
    """The files the official scripts read: dev.json (difficulty), gold.sql (`SQL<TAB>db_id`), predict_dev.json,
    gold_difficulty.jsonl (mini-dev's --diff_json_path), and dev_databases/shop/shop.sqlite."""
    db = root / "dev_databases" / "shop" / "shop.sqlite"
    db.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(db)
    conn.executescript(SHOP_SQL)
    conn.commit()
    conn.close()
    dev = [{"question_id": i, "db_id": "shop", "question": f"question {i}", "evidence": "", "SQL": gold,
            "difficulty": difficulty} for i, (gold, _, difficulty) in enumerate(cases)]
    paths = {"dev": root / "dev.json", "gold": root / "gold.sql", "pred": root / "predict_dev.json",
             "diff": root / "gold_difficulty.jsonl", "db": root / "dev_databases"}
    paths["dev"].write_text(json.dumps(dev, indent=1))
    paths["gold"].write_text(gold_text([c[0] for c in cases], ["shop"] * len(cases)))
    paths["pred"].write_text(bird_prediction_text([c[1] for c in cases], ["shop"] * len(cases)))
    paths["diff"].write_text(difficulty_lines([c[2] for c in cases]))
    return paths
