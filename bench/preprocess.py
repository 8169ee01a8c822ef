"""fetch + preprocess at Spider's size, in Spider's real on-disk format.

Generates ~7,000 train questions over 140 databases and 1,000 dev questions
over 20 other databases (the demo's schemas under new ids, each with its own
rows), writes them as the official release does (train_spider.json, dev.json,
tables.json, database/<db>/<db>.sqlite, records without a difficulty field,
so hardness is computed as for real Spider), then runs the real stage entry
points: fetch from the folder (sha256 of every file, copy, load and check
every database) and preprocess (schema text with sample values, train gold
SQL executed in the sandbox, PSG random cuts). The base model is a local
tiny model (a path, as a hub model would be), so the PSG model pass is not
part of this. Prints JSON with the wall time of each step. Target: fetch +
preprocess under 180 s on 2 cores.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from sqlforge.config import TinyModel
from sqlforge.demo.generate import _sample_split, build_rows, tables_entry, write_sqlite
from sqlforge.demo.schemas import DATABASES
from sqlforge.train.tiny_model import build_tiny_model

REPO = Path(__file__).resolve().parents[1]


def make_spider_sized(root: Path, train_dbs: int, dev_dbs: int, train_q: int, dev_q: int, seed: int) -> dict:
    rng = random.Random(seed)
    groups: dict[str, list] = {"train": [], "dev": []}
    conns, entries = {}, []
    for i in range(train_dbs + dev_dbs):
        template = DATABASES[i % len(DATABASES)]
        db = dataclasses.replace(template, db_id=f"{template.db_id}_{i:03d}")
        rows = build_rows(db, rng)
        path = root / "database" / db.db_id / f"{db.db_id}.sqlite"
        write_sqlite(db, rows, path)
        conns[db.db_id] = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        entries.append(tables_entry(db))
        groups["train" if i < train_dbs else "dev"].append((db, rows))
    seen: set[str] = set()
    try:
        train = _sample_split(groups["train"], rng, train_q, held_out=False, seen=seen, conns=conns)
        dev = _sample_split(groups["dev"], rng, dev_q, held_out=True, seen=seen, conns=conns)
    finally:
        for conn in conns.values():
            conn.close()
    for name, records in (("train_spider.json", train), ("dev.json", dev)):
        for record in records:
            record.pop("difficulty")  # real Spider records carry none: preprocess computes hardness
        (root / name).write_text(json.dumps(records, indent=2))
    (root / "tables.json").write_text(json.dumps(entries, indent=2))
    return {"train": len(train), "dev": len(dev), "databases": len(entries)}


def run_stage(script: str, params: Path, *args: str) -> float:
    start = time.monotonic()
    subprocess.run([sys.executable, str(REPO / "stages" / script), "--params", str(params), *args],
                   check=True, cwd=REPO, stdout=subprocess.DEVNULL)
    return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train-dbs", type=int, default=140)
    parser.add_argument("--dev-dbs", type=int, default=20)
    parser.add_argument("--train", type=int, default=7000)
    parser.add_argument("--dev", type=int, default=1000)
    parser.add_argument("--sample-values", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sqlforge-bench-") as tmp:
        tmp = Path(tmp)
        start = time.monotonic()
        counts = make_spider_sized(tmp / "spider", args.train_dbs, args.dev_dbs, args.train, args.dev, args.seed)
        generate_s = time.monotonic() - start
        corpus = [r["question"] for r in json.loads((tmp / "spider" / "train_spider.json").read_text())[:2000]]
        build_tiny_model(tmp / "tiny", corpus, TinyModel())

        params = tmp / "params.yaml"
        params.write_text(yaml.safe_dump({
            "data": {"dataset": "spider", "source": str(tmp / "spider")},
            "model": {"base": str(tmp / "tiny")},
            "preprocess": {"sample_values": args.sample_values, "psg": {"mode": "random", "ratio": 0.2}},
        }))
        fetch_s = run_stage("fetch.py", params, "--data-out", str(tmp / "raw"), "--model-out", str(tmp / "base"),
                            "--metrics", str(tmp / "fetch.json"))
        preprocess_s = run_stage("preprocess.py", params, "--raw", str(tmp / "raw"), "--base-model", str(tmp / "base"),
                                 "--out", str(tmp / "prepared"), "--metrics", str(tmp / "preprocess.json"))
        prep = json.loads((tmp / "preprocess.json").read_text())

    print(json.dumps({
        "input": counts, "sample_values": args.sample_values,
        "generate_s": round(generate_s, 1), "fetch_s": round(fetch_s, 1), "preprocess_s": round(preprocess_s, 1),
        "fetch_plus_preprocess_s": round(fetch_s + preprocess_s, 1), "target_s": 180,
        "train_kept": prep["train"], "train_dropped_gold": prep["train_gold_filter"]["dropped"],
        "sft_examples": prep["sft_examples"], "mean_prompt_tokens": round(prep["mean_prompt_tokens"], 1),
    }, indent=2))


if __name__ == "__main__":
    main()
