"""fetch + preprocess on small datasets in the real Spider and BIRD formats, through the stage entry points."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import subprocess
import sys
import threading

import pytest

from conftest import REPO, write_params
from real_formats import BIRD_MINI_DEV, SLOW_SQL, add_mini_dev, make_bird, make_spider, zip_folder
from sqlforge.data.sources import tree_sha256

# stage scripts in subprocesses, real training or the pipeline: `make test-fast` leaves these out
pytestmark = pytest.mark.slow


RECORD_KEYS = {"id", "db_id", "db_path", "question", "evidence", "gold", "difficulty", "split", "schema"}
TINY = {"hidden_size": 32, "num_layers": 1, "num_heads": 2, "num_kv_heads": 1, "intermediate_size": 64,
        "vocab_size": 600}


def run_stages(tmp_path, data: dict, preprocess: dict | None = None, model: str = "demo", stages=("fetch", "preprocess")):
    params = tmp_path / "params.yaml"
    write_params(params, {"data": data, "model": {"base": model, "tiny": TINY},
                                      "preprocess": {"sample_values": 2, "gold_timeout_s": 1.0, **(preprocess or {})}})
    paths = {"raw": tmp_path / "raw", "base": tmp_path / "base", "prepared": tmp_path / "prepared"}
    commands = {
        "fetch": ["fetch.py", "--data-out", paths["raw"], "--model-out", paths["base"],
                  "--metrics", tmp_path / "fetch.json"],
        "preprocess": ["preprocess.py", "--raw", paths["raw"], "--base-model", paths["base"],
                       "--out", paths["prepared"], "--metrics", tmp_path / "preprocess.json"],
    }
    for stage in stages:
        script, *rest = commands[stage]
        proc = subprocess.run([sys.executable, str(REPO / "stages" / script), "--params", str(params),
                               *map(str, rest)], capture_output=True, text=True, cwd=REPO)
        if proc.returncode != 0:
            return proc, paths
    return proc, paths


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def metrics(tmp_path, stage):
    return json.loads((tmp_path / f"{stage}.json").read_text())


@pytest.fixture()
def spider(tmp_path):
    return make_spider(tmp_path / "src" / "spider")


def test_spider_folder(tmp_path, spider):
    proc, paths = run_stages(tmp_path, {"dataset": "spider", "source": str(spider)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    fetched = metrics(tmp_path, "fetch")
    assert fetched["sha256"] == tree_sha256(spider) and not fetched["sha256_pinned"]
    assert (paths["raw"] / "database" / "concert_singer" / "concert_singer.sqlite").is_file()
    assert (paths["base"] / "tokenizer.json").is_file()  # the tiny model trained its tokenizer on Spider

    train, dev = read_jsonl(paths["prepared"] / "train.jsonl"), read_jsonl(paths["prepared"] / "dev.jsonl")
    assert all(set(r) == RECORD_KEYS for r in train + dev)
    # 5 train_spider + 1 train_others records; the gold that names a missing column is dropped
    prep = metrics(tmp_path, "preprocess")
    assert prep["train_loaded"] == 6 and len(train) == 5
    assert prep["train_gold_filter"]["dropped"] == 1 and prep["train_gold_filter"]["dropped_ids"] == ["train-00004"]
    assert [r["id"] for r in train] == ["train-00000", "train-00001", "train-00002", "train-00003", "train-00005"]
    assert train[-1]["db_id"] == "pets_1"  # from train_others.json
    assert [r["question"] for r in dev] == ["How many students have a pet?",
                                            "Find the first names of students older than 18.",
                                            "How many concerts are there in each year?"]
    assert {r["difficulty"] for r in train + dev} <= {"easy", "medium", "hard", "extra"}
    assert train[2]["difficulty"] in ("hard", "extra") and train[0]["difficulty"] == "easy"
    assert all(r["evidence"] == "" and r["split"] == s for s, rs in (("train", train), ("dev", dev)) for r in rs)
    schema = train[0]["schema"]
    assert "PRIMARY KEY (concert_id, singer_id)" in schema  # composite key
    assert "FOREIGN KEY (singer_id) REFERENCES singer(singer_id)" in schema
    assert "singer_id INTEGER PRIMARY KEY" in schema
    assert "/* e.g. 'Joe Sharp', 'Timbaland' */" in schema  # sample values read from the database
    sft = read_jsonl(paths["prepared"] / "sft.jsonl")
    assert len(sft) == prep["sft_examples"] >= 5


@pytest.mark.parametrize("variant,question", [
    ("spider-dk", "How many students own a pet animal?"),
    ("spider-syn", "How many pupils have an animal?"),
    ("spider-realistic", "How many concerts happened each year?"),
])
def test_spider_dev_variants_use_spider_databases(tmp_path, spider, variant, question):
    proc, paths = run_stages(tmp_path, {"dataset": "spider", "source": str(spider), "dev_split": variant})
    assert proc.returncode == 0, proc.stderr[-3000:]
    dev = read_jsonl(paths["prepared"] / "dev.jsonl")
    assert [r["question"] for r in dev] == [question]
    assert dev[0]["db_path"].startswith(str(paths["raw"] / "database"))
    assert metrics(tmp_path, "preprocess")["dev_split"] == variant


def test_missing_variant_says_where_to_get_it(tmp_path, spider):
    (spider / "Spider-DK.json").unlink()
    proc, paths = run_stages(tmp_path, {"dataset": "spider", "source": str(spider), "dev_split": "spider-dk"})
    assert proc.returncode == 2
    assert "Spider-DK.json: missing" in proc.stderr and "github.com/ygan/Spider-DK" in proc.stderr
    assert not paths["raw"].exists() and not paths["base"].exists()


def test_spider_zip_with_pinned_hash(tmp_path, spider):
    archive = zip_folder(spider, tmp_path / "spider.zip", prefix="spider")  # the official zip wraps one folder
    pinned = tree_sha256(archive)
    proc, paths = run_stages(tmp_path, {"dataset": "spider", "source": str(archive), "sha256": pinned})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (paths["raw"] / "tables.json").is_file() and not (paths["raw"] / "spider").exists()
    assert metrics(tmp_path, "fetch")["sha256_pinned"] and len(read_jsonl(paths["prepared"] / "train.jsonl")) == 5


def test_wrong_hash_stops_with_nothing_written(tmp_path, spider):
    archive = zip_folder(spider, tmp_path / "spider.zip", prefix="spider")
    proc, paths = run_stages(tmp_path, {"dataset": "spider", "source": str(archive), "sha256": "0" * 64})
    assert proc.returncode == 2
    assert f"{archive}: sha256 is {tree_sha256(archive)}" in proc.stderr and "Traceback" not in proc.stderr
    assert not paths["raw"].exists() and not list(tmp_path.glob(".raw.tmp-*"))


def test_url_source_is_downloaded_and_verified(tmp_path, spider):
    (tmp_path / "serve").mkdir()
    archive = zip_folder(spider, tmp_path / "serve" / "spider.zip", prefix="spider")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(archive.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/spider.zip"
        proc, paths = run_stages(tmp_path, {"dataset": "spider", "source": url, "sha256": tree_sha256(archive)},
                                 stages=("fetch",))
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert (paths["raw"] / "train_spider.json").is_file() and not (paths["raw"] / ".download").exists()
        missing = run_stages(tmp_path, {"dataset": "spider", "source": url.replace("spider.zip", "nope.zip")},
                             stages=("fetch",))[0]
        assert missing.returncode == 2 and "download failed" in missing.stderr
    finally:
        server.shutdown()


def test_missing_source_says_what_to_download(tmp_path):
    for dataset, words in (("spider", "yale-lily.github.io/spider"), ("bird", "bird-bench.github.io")):
        proc, _ = run_stages(tmp_path, {"dataset": dataset, "source": str(tmp_path / "nowhere")}, stages=("fetch",))
        assert proc.returncode == 2 and "does not exist" in proc.stderr and words in proc.stderr


@pytest.mark.parametrize("new_release", [True, False], ids=["bird-2024", "bird-old"])
def test_bird(tmp_path, new_release):
    source = make_bird(tmp_path / "src" / "bird", new_release)
    proc, paths = run_stages(tmp_path, {"dataset": "bird", "source": str(source)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    fetched = metrics(tmp_path, "fetch")
    assert fetched["extracted_zips"] == (["dev_20240627/dev_databases.zip"] if new_release else [])
    train, dev = read_jsonl(paths["prepared"] / "train.jsonl"), read_jsonl(paths["prepared"] / "dev.jsonl")
    assert all(set(r) == RECORD_KEYS for r in train + dev)
    gold_filter = metrics(tmp_path, "preprocess")["train_gold_filter"]
    # one gold names a missing table, one runs past gold_timeout_s
    assert gold_filter["dropped"] == 2 and set(gold_filter["dropped_by_kind"]) == {"runtime", "timeout"}
    assert SLOW_SQL not in {r["gold"] for r in train} and len(train) == 3
    expected = ["simple", "simple", "moderate"] if new_release else ["unknown"] * 3
    assert [r["difficulty"] for r in train] == expected
    assert train[0]["evidence"] == "overall rating refers to `overall rating`"
    schema = train[0]["schema"]
    assert 'CREATE TABLE "Player Attributes" (id INTEGER PRIMARY KEY' in schema  # quoted identifiers
    assert '"player name" TEXT /* player\'s name | e.g. ' in schema  # description + sample values
    assert "range 0-100 in ½ steps" in schema  # a Latin-1 description file, decoded
    assert "team_api_id INTEGER PRIMARY KEY /* team api id */" in schema  # column_name when no description
    assert dev[0]["schema"].count("CREATE TABLE") == 1 and "1: yes; 0: no" in dev[0]["schema"]
    assert dev[0]["db_path"].endswith("california_schools/california_schools.sqlite")


def test_bird_mini_dev(tmp_path):
    source = make_bird(tmp_path / "src" / "bird", new_release=True)
    add_mini_dev(source)
    proc, paths = run_stages(tmp_path, {"dataset": "bird", "source": str(source), "dev_split": "mini-dev"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    dev = read_jsonl(paths["prepared"] / "dev.jsonl")
    assert [(r["gold"], r["difficulty"]) for r in dev] == [(sql, d) for *_, sql, d in BIRD_MINI_DEV]
    assert dev[1]["evidence"] == "charter refers to `Charter School (Y/N)` = 1"
    assert all(r["db_path"].endswith("dev_databases/california_schools/california_schools.sqlite") for r in dev)
    assert metrics(tmp_path, "preprocess")["dev_split"] == "mini-dev"


def test_schema_token_budget_drops_values_then_descriptions(tmp_path):
    source = make_bird(tmp_path / "src" / "bird")
    proc, paths = run_stages(tmp_path, {"dataset": "bird", "source": str(source)},
                             preprocess={"max_schema_tokens": 10_000})
    full = read_jsonl(paths["prepared"] / "train.jsonl")[0]["schema"]
    shutil.rmtree(paths["prepared"])
    proc, paths = run_stages(tmp_path, {"dataset": "bird", "source": str(source)},
                             preprocess={"max_schema_tokens": 60}, stages=("preprocess",))
    assert proc.returncode == 0, proc.stderr[-3000:]
    short = read_jsonl(paths["prepared"] / "train.jsonl")[0]["schema"]
    assert "e.g." in full and "/*" not in short and len(short) < len(full)


def _edit_json(path, edit):
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("breakage,message", [
    (lambda src: (src / "train" / "train.json").write_text('[{"db_id": "european_football_2", "quest'),
     "train/train.json: invalid JSON at line 1"),
    (lambda src: _edit_json(src / "train" / "train.json", lambda d: d[2].update(db_id="formula_1")),
     "train/train.json: record 2 names unknown db_id 'formula_1'"),
    (lambda src: _edit_json(src / "train" / "train.json", lambda d: d[1].pop("SQL")),
     "train/train.json: record 1 has no 'SQL'"),
    (lambda src: _edit_json(src / "train" / "train.json", lambda d: d[0].update(difficulty="easy-ish")),
     "train/train.json: record 0 has difficulty 'easy-ish'"),
    (lambda src: (src / "dev" / "dev_databases" / "california_schools" / "california_schools.sqlite").unlink(),
     "dev/dev.json: record 0 (db_id 'california_schools'): database file"),
    (lambda src: (src / "dev" / "dev_databases" / "california_schools" / "california_schools.sqlite")
     .write_bytes(b"PK\x03\x04 this is a zip, not a database"), "california_schools.sqlite is not an SQLite database"),
    (lambda src: (src / "dev" / "dev_databases" / "california_schools" / "california_schools.sqlite")
     .write_bytes(b"SQLite format 3\x00" + b"\xff" * 200), "california_schools.sqlite is corrupt"),
    (lambda src: _edit_json(src / "train" / "train_tables.json",
                            lambda d: d[0]["column_names_original"].append([0, "potential"])),
     "train/train_tables.json: database 'european_football_2': column Player Attributes.potential is not in"),
])
def test_bad_bird_input_is_named_and_nothing_is_written(tmp_path, breakage, message):
    source = make_bird(tmp_path / "src" / "bird", new_release=False)
    breakage(source)
    proc, paths = run_stages(tmp_path, {"dataset": "bird", "source": str(source)})
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not paths["raw"].exists() and not paths["base"].exists() and not list(tmp_path.glob(".*.tmp-*"))


def test_corrupt_zip_is_named(tmp_path, spider):
    archive = zip_folder(spider, tmp_path / "spider.zip", prefix="spider")
    data = bytearray(archive.read_bytes())
    data[len(data) // 3] ^= 0xFF  # flip a byte inside a member: CRC mismatch or a broken stream
    archive.write_bytes(bytes(data))
    proc, paths = run_stages(tmp_path, {"dataset": "spider", "source": str(archive)}, stages=("fetch",))
    assert proc.returncode == 2 and str(archive) in proc.stderr and "Traceback" not in proc.stderr
    assert not paths["raw"].exists()
