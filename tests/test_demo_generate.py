"""The demo dataset: Spider's on-disk format, in-domain (the default: five databases shared by train and dev)
or cross-database (dev's databases and table names are not in train), deterministic, every gold executes."""

import hashlib
import json
import re
import sqlite3

import pytest

from sqlforge.data.datasets import load_spider, load_tables
from sqlforge.demo.catalog import CONCEPTS, EVENTS
from sqlforge.demo.generate import generate_demo


@pytest.fixture(scope="module")
def cross_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cross")
    generate_demo(out, 0, 300, 40, "cross_database", 12, 4)
    return out


@pytest.mark.parametrize("layout,databases", [("in_domain", 5), ("cross_database", 16)])
def test_layout_and_loader(demo_dir, cross_dir, layout, databases):
    root = demo_dir if layout == "in_domain" else cross_dir  # conftest's demo_dir is in_domain
    for name in ("train_spider.json", "dev.json", "tables.json"):
        assert (root / name).is_file()
    tables = load_tables(root / "tables.json")
    assert len(tables) == databases  # cross_database here: 12 train databases, 4 dev
    for db_id, entry in tables.items():
        assert len(entry["table_names_original"]) >= 2
        assert entry["primary_keys"] and entry["foreign_keys"]
        assert (root / "database" / db_id / f"{db_id}.sqlite").is_file()
    train, dev = load_spider(root, "train").examples, load_spider(root, "dev").examples
    assert len(train) == 300 and len(dev) == 40
    assert {ex.difficulty for ex in train} <= {"easy", "medium", "hard", "extra"}


def test_dev_databases_and_their_table_names_never_appear_in_train(cross_dir):
    demo_dir = cross_dir
    train, dev = load_spider(demo_dir, "train"), load_spider(demo_dir, "dev")
    train_dbs, dev_dbs = {ex.db_id for ex in train.examples}, {ex.db_id for ex in dev.examples}
    assert len(dev_dbs) == 4 and not train_dbs & dev_dbs
    tables = load_tables(demo_dir / "tables.json")
    train_names = {n.lower() for db in train_dbs for n in tables[db]["table_names_original"]}
    dev_names = {n.lower() for db in dev_dbs for n in tables[db]["table_names_original"]}
    assert not train_names & dev_names
    train_sql = {ex.gold for ex in train.examples}
    assert not [ex.gold for ex in dev.examples if ex.gold in train_sql]


def test_a_concepts_last_table_name_is_held_out_for_dev():
    """The catalog's promise the split relies on: a held-out name is no train name of any concept."""
    concepts = CONCEPTS + EVENTS
    held_out = {c.tables[-1][0] for c in concepts}
    train = {name for c in concepts for name, _, _ in c.tables[:-1]}
    assert not held_out & train, held_out & train
    assert all(len(c.tables) >= 3 for c in concepts)


def test_every_gold_executes_with_rows_and_dev_questions_are_unseen(demo_dir, cross_dir):
    train, dev = [], []
    for root in (demo_dir, cross_dir):
        train += load_spider(root, "train").examples
        dev += load_spider(root, "dev").examples
    for ex in train + dev:
        conn = sqlite3.connect(f"file:{ex.db_path}?mode=ro", uri=True)
        assert conn.execute(ex.gold).fetchall(), ex.gold
        conn.close()
    assert not {ex.question for ex in dev} & {ex.question for ex in train}


@pytest.mark.parametrize("layout", ["in_domain", "cross_database"])
def test_patterns_cover_the_sql_features(demo_dir, cross_dir, layout):
    root = demo_dir if layout == "in_domain" else cross_dir
    golds = " ".join(r["query"] for r in json.loads((root / "train_spider.json").read_text()))
    for feature in (" = ", " < ", " > ", " LIKE ", " BETWEEN ", "COUNT(", "AVG(", "GROUP BY", "HAVING",
                    "ORDER BY", "LIMIT", " JOIN ", " IN (", " NOT IN (", "INTERSECT", "UNION", "EXCEPT"):
        assert feature in golds, feature


def test_names_vary_as_real_releases_do(tmp_path):
    """Across the default's 80 databases: snake_case, PascalCase and UPPER CASE identifiers, plural table
    names, column names with a space and a table named by an SQL keyword, the last two quoted in the gold
    SQL, which runs."""
    generate_demo(tmp_path, 0, 4000, 360, "cross_database", 60, 20)
    tables = load_tables(tmp_path / "tables.json")
    names = [n for e in tables.values() for n in e["table_names_original"]]
    columns = [c for e in tables.values() for _, c in e["column_names_original"][1:]]
    assert any(re.fullmatch(r"[a-z]+_[a-z_]+", n) for n in names)
    assert any(re.fullmatch(r"(?:[A-Z][a-z]+){2,}", n) for n in names)
    assert any(re.fullmatch(r"[A-Z_]{4,}", n) for n in names)
    assert any(" " in c for c in columns)
    assert any(n.lower() in ("order", "release") for n in names)
    golds = [r["query"] for r in json.loads((tmp_path / "train_spider.json").read_text())]
    assert any(re.search(r'"[a-z]+ [a-z]+"', g) for g in golds) and any('"order"' in g for g in golds)


def test_generation_is_deterministic(tmp_path):
    def digest(d):
        return hashlib.sha256(b"".join((d / n).read_bytes() for n in ("train_spider.json", "dev.json",
                                                                     "tables.json"))).hexdigest()
    for layout in ("in_domain", "cross_database"):
        generate_demo(tmp_path / layout / "a", 3, 50, 10, layout, 4, 2)
        generate_demo(tmp_path / layout / "b", 3, 50, 10, layout, 4, 2)
        assert digest(tmp_path / layout / "a") == digest(tmp_path / layout / "b")


def test_the_counts_fetch_reports(tmp_path):
    # a quota, not a coin flip: redrawing dev questions that collide with train texts would push the
    # unseen-phrasing share up
    counts = generate_demo(tmp_path / "x", 0, 300, 40, "cross_database", 12, 4)
    assert counts["dev_unseen_phrasing"] == 0.25
    assert counts["dev"] == 40 and counts["train"] == 300
    assert counts["databases"] == 16 and counts["train_databases"] == 12 and counts["dev_databases"] == 4
    assert counts["dev_databases_in_train"] == 0 and counts["dev_sql_also_in_train"] == 0.0
    counts = generate_demo(tmp_path / "i", 0, 300, 40, "in_domain", 12, 4)  # the database counts do not apply
    assert counts["databases"] == counts["train_databases"] == counts["dev_databases"] == 5
    assert counts["dev_databases_in_train"] == 5 and counts["dev_sql_also_in_train"] > 0.2
