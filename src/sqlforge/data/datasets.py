"""Load Spider, its dev variants, BIRD and the demo into one normalized record.

Record (one per question, written by preprocess, read by every later stage):
    id          stable id "<split>-<index>" (index = position in the source files)
    db_id       database id
    db_path     path of the .sqlite file
    question    natural-language question
    evidence    BIRD external knowledge ("" for Spider)
    gold        gold SQL
    difficulty  Spider hardness (easy/medium/hard/extra) or BIRD difficulty
                (simple/moderate/challenging; "unknown" in releases without it)
    split       source split ("train" or "dev")

Layouts (README, Use your data): Spider and the demo keep every
database under `database/` and one `tables.json`; BIRD has a folder per split
(`train/`, `dev/` or `dev_<date>/`) with `<split>.json`, `<split>_tables.json`
and `<split>_databases/`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from sqlforge.official.hardness import spider_hardness
from sqlforge.io import InputError, read_json, read_text

DATASETS = ("demo", "spider", "bird")

# data.dev_split -> (file in the Spider folder, question field, where it comes from)
SPIDER_DEV_SETS = {
    "dev": ("dev.json", "question", "Spider itself"),
    "spider-dk": ("Spider-DK.json", "question", "github.com/ygan/Spider-DK (Spider-DK.json)"),
    "spider-syn": ("Spider-Syn/dev.json", "SpiderSynQuestion", "github.com/ygan/Spider-Syn (the Spider-Syn folder)"),
    "spider-realistic": ("spider-realistic.json", "question", "the Spider-Realistic release (spider-realistic.json)"),
}
# train_others.json (questions over the extra databases) is used when present
SPIDER_TRAIN_FILES = ("train_spider.json", "train_others.json")
BIRD_DIFFICULTIES = {"simple", "moderate", "challenging"}
# data.dev_split: mini-dev: the files of the mini-dev release (bird-bench/mini_dev), put in BIRD's dev folder
BIRD_MINI_DEV = ("mini_dev_sqlite.json", "mini_dev_sqlite_gold.sql")
SQLITE_MAGIC = b"SQLite format 3\x00"


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


@dataclass
class Split:
    examples: list[Example]
    tables: dict[str, dict]  # db_id -> tables.json entry
    tables_path: Path
    # db_id -> questions left out because its database is missing (only with skip_missing_databases)
    skipped: dict[str, int] = field(default_factory=dict)


def _text(record: dict, key: str, path: Path, index: int, required: bool = True) -> str:
    value = record.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise InputError(f"{path}: record {index} has no {key!r} (empty, missing or not a string)")
    return value.strip()


def load_tables(path: Path) -> dict[str, dict]:
    tables = read_json(path)
    if not isinstance(tables, list):
        raise InputError(f"{path}: expected a list of database schemas")
    out = {}
    for i, entry in enumerate(tables):
        if not isinstance(entry, dict) or not isinstance(entry.get("db_id"), str):
            raise InputError(f"{path}: schema {i} has no 'db_id'")
        check_db_id(entry["db_id"], f"{path}: schema {i}")
        for key in ("table_names_original", "column_names_original"):
            if not isinstance(entry.get(key), list):
                raise InputError(f"{path}: schema {i} ({entry['db_id']!r}) has no list {key!r}")
        _check_entry(entry, f"{path}: schema {i} ({entry['db_id']!r})")
        out[entry["db_id"]] = entry
    return out


def _is_index(value, size: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < size


def _check_entry(entry: dict, where: str) -> None:
    """Every name a string and every index in range, so that no later reader (schema text, exact match,
    hardness) meets an IndexError or a TypeError on a hostile or damaged tables file."""
    tables, columns = entry["table_names_original"], entry["column_names_original"]
    for t_idx, name in enumerate(tables):
        if not isinstance(name, str) or not name:
            raise InputError(f"{where}: table {t_idx} has name {name!r}, not a non-empty string")
    for column in columns:
        if not (isinstance(column, list) and len(column) == 2 and isinstance(column[0], int)
                and not isinstance(column[0], bool) and isinstance(column[1], str)):
            raise InputError(f"{where}: column entry {column!r} is not [table_index, name]")
        if not (column[0] == -1 or _is_index(column[0], len(tables))):
            raise InputError(f"{where}: column {column[1]!r} has table index {column[0]}, but there are "
                             f"{len(tables)} tables")
    for key in ("primary_keys", "foreign_keys"):
        if not isinstance(entry.get(key, []), list):
            raise InputError(f"{where}: {key!r} is not a list")
    for pk in entry.get("primary_keys", []):
        group = pk if isinstance(pk, list) else [pk]
        if not group or not all(_is_index(c, len(columns)) for c in group):
            raise InputError(f"{where}: primary key {pk!r} is not a column index (or a list of them) below "
                             f"{len(columns)}")
    for fk in entry.get("foreign_keys", []):
        if not (isinstance(fk, list) and len(fk) == 2 and all(_is_index(c, len(columns)) for c in fk)):
            raise InputError(f"{where}: foreign key {fk!r} is not [column index, column index] below {len(columns)}")
        if any(columns[c][0] < 0 for c in fk):
            raise InputError(f"{where}: foreign key {fk!r} names the '*' column")


# a db_id names a folder and the file <db_id>.sqlite inside it: both must fit a file name (NAME_MAX, 255 bytes)
_NAME_MAX = 255


def check_db_id(db_id: str, where: str) -> str:
    """A db_id names one folder under the databases folder: never an absolute path, `..` or a nested path,
    so a dataset file cannot make sqlforge read a database outside it."""
    if db_id in (".", "..") or "/" in db_id or "\\" in db_id or "\x00" in db_id or Path(db_id).is_absolute():
        raise InputError(f"{where}: db_id {db_id!r} is not a plain folder name")
    size = len((db_id + ".sqlite").encode("utf-8", "surrogatepass"))
    if size > _NAME_MAX:
        raise InputError(f"{where}: db_id {db_id[:40]!r}... is too long for a file name ({size} bytes with "
                         f"'.sqlite'; at most {_NAME_MAX})")
    return db_id


def check_database(db_path: Path, where: str, skipped: list[tuple[str, str]] | None = None) -> dict[str, set[str]]:
    """{table: {columns}} of a readable SQLite file, or an InputError that says which record needed it.

    Schema only: sqlite_master and PRAGMA table_info (which compiles a view but runs nothing, so no row is
    read here). One table or view that cannot be described (a view over a dropped table, a virtual table
    whose module this SQLite lacks) is left out, with (name, error) appended to `skipped`; the database is
    called corrupt only when its schema cannot be read at all."""
    if not db_path.is_file():
        raise InputError(f"{where}: database file {db_path} is missing")
    with db_path.open("rb") as f:
        if f.read(16) != SQLITE_MAGIC:
            raise InputError(f"{where}: {db_path} is not an SQLite database (bad header)")
    from sqlforge.identifiers import quote
    from sqlforge.sandbox.sqlite import open_readonly  # import here: the sandbox is heavier than this module

    try:
        conn = open_readonly(db_path)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            found = {}
            for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')").fetchall():
                try:
                    found[table.lower()] = {row[1].lower() for row in conn.execute(f"PRAGMA table_info({quote(table)})")}
                except Exception as e:  # this object only: the rest of the database stays usable
                    if skipped is not None:
                        skipped.append((table, " ".join(str(e).split())))
            return found
        finally:
            conn.close()
    except Exception as e:
        raise InputError(f"{where}: {db_path} is corrupt: {e}") from None


def check_schema(entry: dict, columns_in_db: dict[str, set[str]], tables_path: Path) -> None:
    """Every table and column the tables file names exists in the database (gold SQL and prompts use them)."""
    tables = entry["table_names_original"]
    for t_idx, name in entry["column_names_original"]:
        if t_idx < 0:
            continue
        if not 0 <= t_idx < len(tables):
            raise InputError(f"{tables_path}: database {entry['db_id']!r}: column {name!r} has table index {t_idx}")
        table = tables[t_idx]
        if table.lower() not in columns_in_db:
            raise InputError(f"{tables_path}: database {entry['db_id']!r}: table {table!r} is not in the database")
        if name.lower() not in columns_in_db[table.lower()]:
            raise InputError(f"{tables_path}: database {entry['db_id']!r}: column {table}.{name} "
                             "is not in the database")


def _records(path: Path) -> list:
    records = read_json(path)
    if not isinstance(records, list):
        raise InputError(f"{path}: expected a list of records")
    return records


class _Builder:
    """Shared checks for every layout: known db_id, a readable database, stable ids."""

    def __init__(self, split: str, tables: dict, db_dir: Path, tables_path: Path, skip_missing: bool = False,
                 test_suite: bool = False):
        self.split, self.tables, self.db_dir, self.tables_path = split, tables, db_dir, tables_path
        self.skip_missing, self.test_suite = skip_missing, test_suite
        self.examples: list[Example] = []
        self.skipped: dict[str, int] = {}
        self._checked: set[str] = set()
        self._index = 0

    def add(self, path: Path, i: int, record, question_key: str, gold_key: str, evidence: str,
            difficulty: str | None) -> None:
        if not isinstance(record, dict):
            raise InputError(f"{path}: record {i} is not an object")
        db_id = check_db_id(_text(record, "db_id", path, i), f"{path}: record {i}")
        if db_id not in self.tables:
            raise InputError(f"{path}: record {i} names unknown db_id {db_id!r} (not in its tables file)")
        db_path = self.db_dir / db_id / f"{db_id}.sqlite"
        if self.skip_missing and db_id not in self._checked and not db_path.exists():
            # opt-in (data.skip_missing_databases): counted per database, never silent
            self.skipped[db_id] = self.skipped.get(db_id, 0) + 1
            self._index += 1  # ids keep the position in the source files
            return
        if db_id not in self._checked:
            where = f"{path}: record {i} (db_id {db_id!r})"
            found = check_database(db_path, where)
            check_schema(self.tables[db_id], found, self.tables_path)
            if self.test_suite:
                self._check_test_suite(db_path, where)
            self._checked.add(db_id)
        gold = _text(record, gold_key, path, i)
        self.examples.append(Example(
            id=f"{self.split}-{self._index:05d}", db_id=db_id, db_path=str(db_path),
            question=_text(record, question_key, path, i), evidence=evidence, gold=gold,
            difficulty=difficulty or spider_hardness(gold, self.tables[db_id]), split=self.split))
        self._index += 1

    def _check_test_suite(self, db_path: Path, where: str) -> None:
        """Spider's evaluator runs every gold on every `.sqlite` in the database's folder (the test-suite
        databases): a stray file there must be a database with the same tables, or validate would fail late."""
        for extra in sorted(db_path.parent.glob("*.sqlite")):
            if extra.name == db_path.name:
                continue
            found = check_database(extra, f"{where}: test-suite database (Spider rules run every gold on "
                                          f"each .sqlite beside {db_path.name}; remove stray copies)")
            check_schema(self.tables[db_path.parent.name], found, extra)

    def split_of(self, files: list[Path]) -> Split:
        if not self.examples:
            reason = "every question's database is missing" if self.skipped else "no questions"
            raise InputError(f"{', '.join(map(str, files))}: {reason} in the {self.split} set")
        return Split(self.examples, self.tables, self.tables_path, dict(sorted(self.skipped.items())))


def load_spider(root: str | Path, split: str, dev_split: str = "dev", *, skip_missing_databases: bool = False) -> Split:
    """Spider layout (the demo uses it too); `dev_split` picks dev.json or a variant over the same DBs.

    skip_missing_databases: leave out (and count in `Split.skipped`) questions whose database file is
    missing, as in the widely shared Spider snapshots without `wta_1`; otherwise that is an error.
    """
    root = Path(root)
    tables_path = root / "tables.json"
    builder = _Builder(split, load_tables(tables_path), root / "database", tables_path,
                       skip_missing=skip_missing_databases, test_suite=True)
    if split == "train":
        files = [(root / name, "question") for name in SPIDER_TRAIN_FILES
                 if name == SPIDER_TRAIN_FILES[0] or (root / name).is_file()]
    else:
        if dev_split not in SPIDER_DEV_SETS:
            raise InputError(f"params.yaml: data.dev_split={dev_split!r}: Spider dev sets are {sorted(SPIDER_DEV_SETS)}")
        name, question_key, origin = SPIDER_DEV_SETS[dev_split]
        if not (root / name).is_file():
            raise InputError(f"{root / name}: missing; {dev_split} comes from {origin}: put the file at {name} "
                             "inside the Spider folder (its databases are Spider's)")
        files = [(root / name, question_key)]
    for path, question_key in files:
        for i, record in enumerate(_records(path)):
            hardness = record.get("difficulty") if isinstance(record, dict) else None
            builder.add(path, i, record, question_key, "query", "", hardness)
    return builder.split_of([path for path, _ in files])


def bird_split_dir(root: Path, split: str) -> Path:
    """`train/`, `dev/`, or a dated release folder such as `dev_20240627/`."""
    found = [p.parent for p in [root / split / f"{split}.json"] if p.is_file()]
    found = found or sorted(p.parent for p in root.glob(f"{split}_*/{split}.json"))
    if not found:
        raise InputError(f"{root}: no BIRD {split} set: expected {split}/{split}.json (or {split}_<date>/)")
    if len(found) > 1:
        raise InputError(f"{root}: several BIRD {split} releases ({', '.join(p.name for p in found)}); keep one")
    return found[0]


def _mini_dev_golds(folder: Path, records: list) -> list[str]:
    """The gold SQL of each mini-dev question from `mini_dev_sqlite_gold.sql` (`SQL<TAB>db_id` lines, what the
    official scripts run), checked line by line against the questions file's db_id."""
    json_path, gold_path = (folder / name for name in BIRD_MINI_DEV)
    if not gold_path.is_file():
        raise InputError(f"{gold_path}: missing; data.dev_split=mini-dev needs {BIRD_MINI_DEV[0]} and "
                         f"{BIRD_MINI_DEV[1]} of the mini-dev release (github.com/bird-bench/mini_dev) in BIRD's "
                         f"dev folder {folder}")
    lines = [line for line in read_text(gold_path).splitlines() if line.strip()]
    if len(lines) != len(records):
        raise InputError(f"{gold_path}: {len(lines)} gold lines for the {len(records)} questions of {json_path}")
    golds = []
    for i, (line, record) in enumerate(zip(lines, records)):
        fields = line.strip().split("\t")
        if len(fields) != 2 or not fields[0].strip():
            raise InputError(f"{gold_path}: line {i + 1} is not SQL<TAB>db_id")
        if isinstance(record, dict) and fields[1].strip() != record.get("db_id"):
            raise InputError(f"{gold_path}: line {i + 1} names db_id {fields[1].strip()!r}, but record {i} of "
                             f"{json_path} has {record.get('db_id')!r}")
        golds.append(fields[0])
    return golds


def load_bird(root: str | Path, split: str, *, skip_missing_databases: bool = False, mini_dev: bool = False) -> Split:
    """BIRD layout; question_id and difficulty are optional (older releases lack them). `mini_dev`: the dev
    questions of the mini-dev release (its two files in the dev folder) over the dev databases."""
    folder = bird_split_dir(Path(root), split)
    tables_path = folder / f"{split}_tables.json"
    builder = _Builder(split, load_tables(tables_path), folder / f"{split}_databases", tables_path,
                       skip_missing=skip_missing_databases)
    path = folder / (BIRD_MINI_DEV[0] if mini_dev else f"{split}.json")
    if mini_dev and not path.is_file():
        raise InputError(f"{path}: missing; data.dev_split=mini-dev needs {BIRD_MINI_DEV[0]} and {BIRD_MINI_DEV[1]} "
                         f"of the mini-dev release (github.com/bird-bench/mini_dev) in BIRD's dev folder {folder}")
    records = _records(path)
    golds = _mini_dev_golds(folder, records) if mini_dev else None
    for i, record in enumerate(records):
        if golds is not None and isinstance(record, dict):
            record = {**record, "SQL": golds[i]}  # the gold the official scripts run
        difficulty = "unknown"
        if isinstance(record, dict) and record.get("difficulty") is not None:
            difficulty = str(record["difficulty"]).strip().lower()
            if difficulty not in BIRD_DIFFICULTIES:
                raise InputError(f"{path}: record {i} has difficulty {record['difficulty']!r}, "
                                 f"expected one of {sorted(BIRD_DIFFICULTIES)}")
        evidence = _text(record, "evidence", path, i, required=False) if isinstance(record, dict) else ""
        builder.add(path, i, record, "question", "SQL", evidence, difficulty)
    return builder.split_of([path])


def load_split(raw: str | Path, dataset: str, split: str, dev_split: str = "dev", *,
               skip_missing_databases: bool = False) -> Split:
    if dataset == "bird":
        if split == "dev" and dev_split not in ("dev", "mini-dev"):
            raise InputError(f"params.yaml: data.dev_split={dev_split!r}: BIRD's dev sets are 'dev' and 'mini-dev'")
        return load_bird(raw, split, skip_missing_databases=skip_missing_databases,
                         mini_dev=split == "dev" and dev_split == "mini-dev")
    if dataset in ("spider", "demo"):
        return load_spider(raw, split, dev_split, skip_missing_databases=skip_missing_databases)
    raise InputError(f"params.yaml: data.dataset={dataset!r} must be one of {list(DATASETS)}")

