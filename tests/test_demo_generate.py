"""The demo dataset: Spider's on-disk format, deterministic, every gold executes."""

import hashlib
import json
import sqlite3

from sqlforge.data.datasets import load_spider, load_tables
from sqlforge.demo.generate import generate_demo


def test_layout_and_loader(demo_dir):
    for name in ("train_spider.json", "dev.json", "tables.json"):
        assert (demo_dir / name).is_file()
    tables = load_tables(demo_dir / "tables.json")
    assert len(tables) >= 5
    for db_id, entry in tables.items():
        assert len(entry["table_names_original"]) >= 3
        assert entry["primary_keys"] and entry["foreign_keys"]
        assert (demo_dir / "database" / db_id / f"{db_id}.sqlite").is_file()
    train, dev = load_spider(demo_dir, "train").examples, load_spider(demo_dir, "dev").examples
    assert len(train) == 300 and len(dev) == 40
    assert {ex.difficulty for ex in train} <= {"easy", "medium", "hard", "extra"}


def test_every_gold_executes_with_rows_and_dev_questions_are_unseen(demo_dir):
    train, dev = load_spider(demo_dir, "train").examples, load_spider(demo_dir, "dev").examples
    for ex in train + dev:
        conn = sqlite3.connect(f"file:{ex.db_path}?mode=ro", uri=True)
        assert conn.execute(ex.gold).fetchall(), ex.gold
        conn.close()
    assert not {ex.question for ex in dev} & {ex.question for ex in train}


def test_patterns_cover_the_sql_features(demo_dir):
    golds = " ".join(r["query"] for r in json.loads((demo_dir / "train_spider.json").read_text()))
    for feature in (" = ", " < ", " > ", " LIKE ", " BETWEEN ", "COUNT(", "AVG(", "GROUP BY", "HAVING",
                    "ORDER BY", "LIMIT", " JOIN ", " IN (", " NOT IN (", "INTERSECT", "UNION", "EXCEPT"):
        assert feature in golds, feature


def test_generation_is_deterministic(tmp_path):
    def digest(d):
        return hashlib.sha256(b"".join((d / n).read_bytes() for n in ("train_spider.json", "dev.json",
                                                                     "tables.json"))).hexdigest()
    generate_demo(tmp_path / "a", 3, 50, 10)
    generate_demo(tmp_path / "b", 3, 50, 10)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")


def test_a_quarter_of_dev_uses_a_phrasing_train_never_saw(tmp_path):
    # a quota, not a coin flip: redrawing dev questions that collide with train texts used to
    # push the unseen-phrasing share to one half
    counts = generate_demo(tmp_path, 0, 300, 40)
    assert counts["dev_unseen_phrasing"] == 0.25
    assert counts["dev"] == 40
