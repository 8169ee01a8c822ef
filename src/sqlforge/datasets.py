"""Load datasets in their official on-disk layout into one normalized record.

Record (one per question, written by preprocess, read by every later stage):
    id          stable id "<split>-<index>"
    db_id       database id
    db_path     path of the .sqlite file
    question    natural-language question
    evidence    BIRD external knowledge ("" for Spider)
    gold        gold SQL
    difficulty  Spider hardness or BIRD difficulty
    split       source split ("train" or "dev")
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from sqlforge.difficulty import spider_hardness
from sqlforge.io import InputError, read_json


@dataclass
class Example:
    id: str
    db_id: str
    db_path: str
    question: str
    evidence: str
    gold: str
    difficulty: str
    split: str

    def to_dict(self) -> dict:
        return asdict(self)


SPIDER_FILES = {"train": ["train_spider.json"], "dev": ["dev.json"]}


def _require(record: dict, key: str, path: Path, index: int) -> str:
    value = record.get(key)
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{path}: record {index} has no {key!r} (empty or missing)")
    return value.strip()


def load_tables(path: Path) -> dict[str, dict]:
    tables = read_json(path)
    if not isinstance(tables, list):
        raise InputError(f"{path}: expected a list of database schemas")
    out = {}
    for i, entry in enumerate(tables):
        if not isinstance(entry, dict) or "db_id" not in entry:
            raise InputError(f"{path}: schema {i} has no 'db_id'")
        out[entry["db_id"]] = entry
    return out


def load_spider(root: str | Path, split: str) -> list[Example]:
    """Spider layout: <root>/{train_spider.json,dev.json,tables.json,database/<db>/<db>.sqlite}."""
    root = Path(root)
    tables = load_tables(root / "tables.json")
    examples: list[Example] = []
    for name in SPIDER_FILES.get(split, [f"{split}.json"]):
        path = root / name
        records = read_json(path)
        if not isinstance(records, list):
            raise InputError(f"{path}: expected a list of records")
        for i, record in enumerate(records):
            if not isinstance(record, dict):
                raise InputError(f"{path}: record {i} is not an object")
            db_id = _require(record, "db_id", path, i)
            if db_id not in tables:
                raise InputError(f"{path}: record {i} names unknown db_id {db_id!r} (not in tables.json)")
            db_path = root / "database" / db_id / f"{db_id}.sqlite"
            if not db_path.is_file():
                raise InputError(f"{path}: record {i}: database file {db_path} is missing")
            gold = _require(record, "query", path, i)
            examples.append(Example(
                id=f"{split}-{len(examples):05d}",
                db_id=db_id,
                db_path=str(db_path),
                question=_require(record, "question", path, i),
                evidence="",
                gold=gold,
                difficulty=record.get("difficulty") or spider_hardness(gold),
                split=split,
            ))
    return examples
