"""Real releases load: keyword-named tables and columns, missing databases (opt-in skip), symlinked
sources, big golds, hostile paths and archives. Each failure is one line naming the user's file."""

from __future__ import annotations

import json
import os
import sqlite3
import zipfile

import pytest

from real_formats import make_spider, make_spider_keywords
from sqlforge.data.datasets import load_spider, load_split
from sqlforge.data.gold_filter import executable_golds
from sqlforge.io import InputError, read_json, read_jsonl
from sqlforge.data.schema import SchemaReader, schema_blocks
from sqlforge.identifiers import quote
from sqlforge.data.sources import _extract, materialize, tree_sha256
from test_real_datasets import metrics, read_jsonl as read_lines, run_stages
from conftest import make_executor, repo_params

CAP = repo_params().data.max_uncompressed_bytes  # params.yaml's, as fetch passes it

AWKWARD = ["From", "order", "ORDER", "Group", "select", "raise", "key", "2nd place", "1abc", "a b", "x-y",
           'say "hi"', "é", "rowid_", "nothing", "returning", "Window"]


@pytest.mark.parametrize("name", AWKWARD)
def test_every_awkward_name_round_trips_through_sqlite_when_quoted(name):
    """Rule: every identifier SQLite would not read bare is quoted; a quoted one means the same name."""
    q = quote(name)
    conn = sqlite3.connect(":memory:")
    conn.execute(f"CREATE TABLE {q} ({q} TEXT)")
    conn.execute(f"INSERT INTO {q} VALUES ('v')")
    assert conn.execute(f"SELECT {q}.{q}, {q} AS {q} FROM {q} WHERE {q} IS NOT NULL ORDER BY {q}").fetchall() \
        == [("v", "v")]
    assert [r[1] for r in conn.execute(f"PRAGMA table_info({q})")] == [name]


def test_plain_names_stay_bare_and_keywords_of_any_case_are_quoted():
    assert [quote(n) for n in ("singer", "Train_ID", "t1")] == ["singer", "Train_ID", "t1"]
    assert [quote(n) for n in ("From", "from", "FROM", "oRdEr")] == ['"From"', '"from"', '"FROM"', '"oRdEr"']


def test_keyword_database_loads_and_its_schema_text_quotes_every_keyword(tmp_path):
    """Spider's railway (train.From) crashed sampling; a table named `order` was reported corrupt."""
    root = make_spider_keywords(tmp_path / "spider")
    dev = load_spider(root, "dev")
    assert len(dev.examples) == 5
    with make_executor() as executor:
        text = "\n".join(schema_blocks(dev.tables["railway"], dev.examples[0].db_path, sample_values=2,
                                       reader=SchemaReader(executor)))
    assert '"From" TEXT /* e.g. \'London\', \'Paris\' */' in text
    assert 'CREATE TABLE "order" (' in text and '"group" TEXT /* e.g. \'alpha\', \'beta\' */' in text
    assert '"2nd place" TEXT' in text and "FOREIGN KEY (Train_ID) REFERENCES train(Train_ID)" in text


@pytest.mark.slow
def test_fetch_and_preprocess_with_sample_values_on_keyword_names(tmp_path):
    root = make_spider_keywords(tmp_path / "src" / "spider")
    proc, paths = run_stages(tmp_path, {"dataset": "spider", "source": str(root)}, preprocess={"sample_values": 3})
    assert proc.returncode == 0, proc.stderr[-3000:]
    dev = read_lines(paths["prepared"] / "dev.jsonl")
    assert '"group" TEXT' in dev[0]["schema"] and "'alpha'" in dev[0]["schema"]
    prep = metrics(tmp_path, "preprocess")
    # the dev gold naming a missing column is seen at preprocess, counted, and dev stays whole
    assert prep["dev_gold_failures"]["count"] == 1 and prep["dev_gold_failures"]["ids"] == ["dev-00004"]
    assert prep["dev"] == 5 and prep["skipped_missing_databases"]["dev"]["questions"] == 0
    assert "dev gold SQL failing" in proc.stdout + proc.stderr


def test_missing_database_is_an_error_unless_skipping_is_asked_for(tmp_path):
    root = make_spider(tmp_path / "spider")
    (root / "database" / "pets_1" / "pets_1.sqlite").unlink()
    with pytest.raises(InputError, match="pets_1.sqlite is missing"):
        load_split(root, "spider", "dev")
    dev = load_split(root, "spider", "dev", skip_missing_databases=True)
    assert dev.skipped == {"pets_1": 2}
    assert [ex.id for ex in dev.examples] == ["dev-00002"]  # ids keep the position in dev.json
    train = load_split(root, "spider", "train", skip_missing_databases=True)
    assert train.skipped == {"pets_1": 1} and len(train.examples) == 5


def test_skipping_everything_is_an_error_not_an_empty_set(tmp_path):
    root = make_spider(tmp_path / "spider")
    for db in ("pets_1", "concert_singer"):
        (root / "database" / db / f"{db}.sqlite").unlink()
    with pytest.raises(InputError, match="every question's database is missing in the dev set"):
        load_split(root, "spider", "dev", skip_missing_databases=True)


def test_empty_dev_set_is_caught_at_load(tmp_path):
    root = make_spider(tmp_path / "spider")
    (root / "dev.json").write_text("[]")
    with pytest.raises(InputError, match=r"dev.json: no questions in the dev set"):
        load_split(root, "spider", "dev")


def test_fetch_errors_name_the_source_not_a_temp_folder(tmp_path):
    root = make_spider(tmp_path / "src" / "spider")
    (root / "database" / "pets_1" / "pets_1.sqlite").unlink()
    proc, paths = run_stages(tmp_path, {"dataset": "spider", "source": str(root)}, stages=("fetch",))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"{root}/train_others.json: record 0" in proc.stderr and ".tmp-" not in proc.stderr
    assert f"{root}/database/pets_1/pets_1.sqlite is missing" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_a_source_that_is_itself_a_link_is_followed_and_links_inside_it_too(tmp_path):
    """The source folder may live on another disk behind a link (data.source is resolved once); links under it
    are followed while they stay inside it, and a cycle does not hang the walk. A link leading out of the
    source is refused: tests/test_fetch_sources.py."""
    real = make_spider(tmp_path / "other_disk" / "spider")
    (real / "database" / "loop").symlink_to(real / "database", target_is_directory=True)
    (real / "database" / "alias").symlink_to("pets_1", target_is_directory=True)  # relative, inside
    root = tmp_path / "spider"
    root.symlink_to(real, target_is_directory=True)
    copy = tmp_path / "copy"
    copy.mkdir()
    digest = materialize(str(root), "", copy, "hint", CAP)
    assert (copy / "database" / "pets_1" / "pets_1.sqlite").is_file()
    # the in-source alias is not refused; each real folder is copied once, under the first name the walk meets
    assert (copy / "database" / "pets_1" / "pets_1.sqlite").is_file() or (copy / "database" / "alias").is_dir()
    assert digest == tree_sha256(root) and len(load_split(copy, "spider", "dev").examples) == 3


def test_gold_over_the_row_cap_is_kept(tmp_path):
    """Spider train has golds of 10,507 rows (flight_4): size is not a reason to drop a gold."""
    root = make_spider(tmp_path / "spider")
    db = root / "database" / "concert_singer" / "concert_singer.sqlite"
    conn = sqlite3.connect(db)
    conn.executemany("INSERT INTO concert VALUES (?, ?, ?)", [(i, f"c{i}", 2000) for i in range(10, 10_600)])
    conn.commit()
    conn.close()
    train = load_split(root, "spider", "train")
    big = [ex for ex in train.examples if ex.gold == "SELECT concert_name FROM concert ORDER BY year"]
    with make_executor(timeout_s=5, gold_limits={"max_rows": 10_000}) as executor:  # golds run trusted
        kept, counts = executable_golds(train.examples, executor)
    assert big[0] in kept and counts["kept_over_row_cap"] == 1
    assert counts["dropped"] == 1 and counts["dropped_by_kind"] == {"runtime": 1}  # only the broken gold


@pytest.mark.parametrize("db_id", ["/etc", "../outside", "..", "a/b"])
def test_db_id_cannot_leave_the_database_folder(tmp_path, db_id):
    root = make_spider(tmp_path / "spider")
    records = json.loads((root / "dev.json").read_text())
    records[1]["db_id"] = db_id
    (root / "dev.json").write_text(json.dumps(records))
    with pytest.raises(InputError, match=r"dev.json: record 1: db_id .* is not a plain folder name"):
        load_split(root, "spider", "dev")


def test_stray_sqlite_in_a_database_folder_is_caught_at_load(tmp_path):
    """Spider rules run every gold on each .sqlite of the folder: a stray file would fail validate late."""
    root = make_spider(tmp_path / "spider")
    (root / "database" / "pets_1" / "backup.sqlite").write_bytes(b"not a database")
    with pytest.raises(InputError, match=r"backup.sqlite is not an SQLite database"):
        load_split(root, "spider", "dev")
    (root / "database" / "pets_1" / "backup.sqlite").unlink()
    conn = sqlite3.connect(root / "database" / "pets_1" / "backup.sqlite")
    conn.execute("CREATE TABLE other (x)")
    conn.close()
    with pytest.raises(InputError, match=r"backup.sqlite: database 'pets_1': table 'student' is not in"):
        load_split(root, "spider", "dev")


def test_deeply_nested_json_is_one_line_error(tmp_path):
    deep = "[" * 200_000 + "]" * 200_000
    (tmp_path / "deep.json").write_text(deep)
    (tmp_path / "deep.jsonl").write_text("{}\n" + deep + "\n")
    with pytest.raises(InputError, match="deep.json: JSON nested too deeply"):
        read_json(tmp_path / "deep.json")
    with pytest.raises(InputError, match="deep.jsonl: record at line 2 is nested too deeply"):
        read_jsonl(tmp_path / "deep.jsonl")


def test_zip_bomb_is_refused_before_extracting(tmp_path):
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("spider/dev.json", b"\0" * (32 << 20))
    assert archive.stat().st_size < 100_000
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(InputError, match=r"bomb.zip: expands to 33,554,432 bytes, over the cap of 1,048,576"):
        _extract(archive, out, max_uncompressed_bytes=1 << 20)
    assert not list(out.iterdir())
    _extract(archive, out, max_uncompressed_bytes=64 << 20)  # under the cap: extracted
    assert (out / "spider" / "dev.json").stat().st_size == 32 << 20


def test_revision_edit_to_a_keyword_column_quotes_it():
    """revision_data builds SQL from schema names too: `From` must come out quoted, and run."""
    import random

    import sqlglot

    from sqlforge.data.revision import _other_column

    tree = sqlglot.parse_one("SELECT a FROM t", read="sqlite")
    assert _other_column(tree, random.Random(0), ["From"])
    edited = tree.sql(dialect="sqlite")
    assert edited == 'SELECT "From" FROM t'
    conn = sqlite3.connect(":memory:")
    conn.execute('CREATE TABLE t (a, "From")')
    assert conn.execute(edited).fetchall() == []


def test_a_column_that_cannot_be_sampled_gets_no_values(tmp_path):
    """Sample values are a hint: a view failing at run time (integer overflow) must not end preprocess."""
    from real_formats import tables_entry

    db = tmp_path / "v.sqlite"
    conn = sqlite3.connect(db)
    conn.executescript("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (-9223372036854775808);"
                       "CREATE VIEW v AS SELECT abs(x) AS y FROM t;")
    conn.close()
    entry = tables_entry("v", [("t", [("x", "number")]), ("v", [("y", "number")])], [], [])
    with make_executor() as executor:
        reader = SchemaReader(executor)
        blocks = schema_blocks(entry, str(db), sample_values=2, reader=reader)
    assert not reader.unsampled  # a runtime error is no bound passed: that column only goes without values
    assert blocks[1] == "CREATE TABLE v (y TEXT);" and "e.g. -9223372036854775808" in blocks[0]
