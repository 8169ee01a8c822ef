"""fetch: put the dataset in data/raw (its official layout) and the base model in models/base.

Demo default: the dataset is generated from a seed and the tiny model is
built locally. Spider and BIRD come from `data.source` (a folder, a zip file
or a URL), verified against the pinned `data.sha256`, copied or extracted,
and loaded once here so that a bad file fails now, naming the file and the
record. A hub model is recorded by name and loaded by later stages.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
from pathlib import Path

from sqlforge.stage_runner import run_stage, summary
from sqlforge.config import load_params
from sqlforge.data.datasets import Split, load_split
from sqlforge.demo.generate import generate_demo
from sqlforge.io import InputError, atomic_path, write_json
from sqlforge.base_model import write_base_pointer
from sqlforge.prompts import TEMPLATE_DIR
from sqlforge.data.schema import SchemaReader, serialize_schema
from sqlforge.sandbox.executor import sandbox_executor
from sqlforge.data.sources import expand_nested_zips, find_root, is_url, materialize
from sqlforge.train.tiny_model import build_tiny_model

HINTS = {
    "spider": "download Spider from https://yale-lily.github.io/spider and set data.source to the zip, or to the "
              "unzipped folder holding train_spider.json, dev.json, tables.json and database/",
    "bird": "download BIRD train.zip and dev.zip from https://bird-bench.github.io, unzip both into one folder "
            "(it then holds train/ and dev_<date>/) and set data.source to it (or to a zip of it)",
}
ROOT_MARKERS = {"spider": "tables.json", "bird": "train/train.json"}


def fetch_dataset(params, out: Path) -> dict:
    data = params.data
    if data.dataset == "demo":
        demo = data.demo
        return generate_demo(out, demo.seed, demo.train_questions, demo.dev_questions, demo.layout,
                             demo.train_databases, demo.dev_databases)
    staging = out / ".source"
    staging.mkdir()
    sha256 = materialize(data.source, data.sha256, staging, HINTS[data.dataset], params.data.max_uncompressed_bytes)
    root = find_root(staging, ROOT_MARKERS[data.dataset])
    shown = source_name(data.source, root.relative_to(staging))
    for child in sorted(root.iterdir()):
        if child != staging:
            shutil.move(str(child), out / child.name)
    shutil.rmtree(staging)
    with errors_named_by_source(out, shown):
        nested = expand_nested_zips(out, params.data.max_uncompressed_bytes, shown)
        splits = load_splits(params, out)
    return {"sha256": sha256, "sha256_pinned": bool(data.sha256), "extracted_zips": nested,
            "train": len(splits["train"].examples), "dev": len(splits["dev"].examples),
            "skipped_missing_databases": {name: s.skipped for name, s in splits.items() if s.skipped},
            "databases": len({ex.db_id for s in splits.values() for ex in s.examples})}


def source_name(source: str, inner: Path) -> str:
    """How messages name the dataset root: the user's folder, or `archive!/folder` inside a zip or URL."""
    if not is_url(source) and Path(source).expanduser().is_dir():
        return str(Path(source).expanduser() / inner)
    return f"{source}!/{inner.as_posix()}".rstrip("/.") if inner != Path(".") else f"{source}!"


@contextlib.contextmanager
def errors_named_by_source(out: Path, shown: str):
    """Errors while checking the copy name the user's source, not the temporary folder it sits in."""
    try:
        yield
    except InputError as e:
        raise InputError(str(e).replace(str(out), shown)) from None


def load_splits(params, raw: Path) -> dict[str, Split]:
    skip = params.data.skip_missing_databases
    return {"train": load_split(raw, params.data.dataset, "train", skip_missing_databases=skip),
            "dev": load_split(raw, params.data.dataset, "dev", params.data.dev_split, skip_missing_databases=skip)}


def tokenizer_corpus(params, raw: Path) -> list[str]:
    """Questions, gold SQL, schemas and prompt text: what the tiny model will read and write."""
    texts = [p.read_text() for p in sorted(TEMPLATE_DIR.glob("*.txt"))]
    splits = load_splits(params, raw)
    for ex in splits["train"].examples:  # never dev questions or gold
        texts += [ex.question, ex.gold]
    # schemas are model input at inference, so dev databases are included
    databases = {ex.db_id: (split.tables[ex.db_id], ex.db_path) for split in splits.values() for ex in split.examples}
    # sample values read in the sandbox, under its bounds: a dataset's view may be endless or huge
    with sandbox_executor(params.sandbox, params.sandbox.timeout_s) as executor:
        reader = SchemaReader(executor)
        for db_id, (entry, db_path) in sorted(databases.items()):
            texts += [serialize_schema(entry, db_path, 3, reader=reader)] * 50
    return texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", required=True)
    parser.add_argument("--data-out", required=True)
    parser.add_argument("--model-out", required=True)
    parser.add_argument("--metrics", required=True)
    args = parser.parse_args()
    params = load_params(args.params)

    with atomic_path(args.data_out, is_dir=True) as raw:
        counts = fetch_dataset(params, raw)
        with atomic_path(args.model_out, is_dir=True) as model_dir:
            if params.model.base == "demo":
                model_info = build_tiny_model(model_dir, tokenizer_corpus(params, raw), params.model.tiny)
            else:
                write_base_pointer(model_dir, params.model.base)
                model_info = {"base": params.model.base}

    metrics = {"dataset": params.data.dataset, "dev_split": params.data.dev_split, **counts, "model": model_info}
    write_json(args.metrics, metrics)
    summary("fetch", {k: v for k, v in {**counts, **model_info}.items() if not isinstance(v, (list, dict))})
    for split, skipped in counts.get("skipped_missing_databases", {}).items():  # opted in, never silent
        summary(f"{split}: questions skipped, database missing (data.skip_missing_databases)", skipped)
    if params.data.dataset != "demo" and not params.data.sha256:
        summary("pin this source", {"data.sha256": counts["sha256"]})


if __name__ == "__main__":
    run_stage(main)
