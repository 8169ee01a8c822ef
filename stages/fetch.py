"""fetch: put the dataset in data/raw (Spider layout) and the base model in models/base.

Demo default: the dataset is generated from a seed and the tiny model is
built locally. Real datasets are copied from `data.source`; a hub model is
recorded by name and loaded by later stages.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from sqlforge.cli import run_stage, summary
from sqlforge.config import load_params
from sqlforge.datasets import load_spider, load_tables
from sqlforge.demo.generate import generate_demo
from sqlforge.io import InputError, atomic_path, write_json
from sqlforge.models import write_base_pointer
from sqlforge.prompts import TEMPLATE_DIR
from sqlforge.schema import serialize_schema
from sqlforge.tiny_model import build_tiny_model

SPIDER_HINT = ("download Spider (https://yale-lily.github.io/spider), unzip it and set data.source to the folder "
               "holding train_spider.json, dev.json, tables.json and database/")


def fetch_dataset(params, out: Path) -> dict:
    if params.data.dataset == "demo":
        demo = params.data.demo
        return generate_demo(out, demo.seed, demo.train_questions, demo.dev_questions)
    if params.data.dataset == "spider":
        source = Path(params.data.source)
        if not params.data.source or not (source / "tables.json").is_file():
            raise InputError(f"params.yaml: data.source={params.data.source!r} is not a Spider folder: {SPIDER_HINT}")
        shutil.copytree(source, out, dirs_exist_ok=True)
        return {"train": len(load_spider(out, "train")), "dev": len(load_spider(out, params.data.dev_split))}
    raise InputError(f"params.yaml: data.dataset={params.data.dataset!r} is not supported yet (demo, spider)")


def tokenizer_corpus(raw: Path) -> list[str]:
    """Questions, gold SQL, schemas and prompt text: what the tiny model will read and write."""
    tables = load_tables(raw / "tables.json")
    texts = [p.read_text() for p in sorted(TEMPLATE_DIR.glob("*.txt"))]
    for ex in load_spider(raw, "train"):
        texts += [ex.question, ex.gold]
    for db_id, entry in sorted(tables.items()):
        texts += [serialize_schema(entry, str(raw / "database" / db_id / f"{db_id}.sqlite"), 3)] * 50
    return texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--data-out", default="data/raw")
    parser.add_argument("--model-out", default="models/base")
    parser.add_argument("--metrics", default="metrics/fetch.json")
    args = parser.parse_args()
    params = load_params(args.params)

    with atomic_path(args.data_out, is_dir=True) as raw:
        counts = fetch_dataset(params, raw)
        with atomic_path(args.model_out, is_dir=True) as model_dir:
            if params.model.base == "demo":
                model_info = build_tiny_model(model_dir, tokenizer_corpus(raw), params.model.tiny)
            else:
                write_base_pointer(model_dir, params.model.base)
                model_info = {"base": params.model.base}

    metrics = {"dataset": params.data.dataset, **counts, "model": model_info}
    write_json(args.metrics, metrics)
    summary("fetch", {**counts, **model_info})


if __name__ == "__main__":
    run_stage(main)
