"""Shared fixtures: a real demo dataset and a real tiny model, built once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    from sqlforge.demo.generate import generate_demo

    out = tmp_path_factory.mktemp("demo")
    generate_demo(out, seed=0, train_questions=300, dev_questions=40)
    return out


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, demo_dir) -> Path:
    """The real tiny base model (random weights), as fetch builds it."""
    import sys

    sys.path.insert(0, str(REPO / "stages"))
    from fetch import tokenizer_corpus

    from sqlforge.config import Params, TinyModel
    from sqlforge.tiny_model import build_tiny_model

    out = tmp_path_factory.mktemp("tiny_model")
    build_tiny_model(out, tokenizer_corpus(Params(), demo_dir), TinyModel(hidden_size=64, num_layers=2, intermediate_size=128))
    return out


@pytest.fixture(scope="session")
def demo_records(demo_dir, tiny_model) -> dict[str, list[dict]]:
    """Normalized records with schema text, as preprocess writes them."""
    from sqlforge.datasets import load_spider
    from sqlforge.schema import serialize_schema

    out = {}
    for split in ("train", "dev"):
        loaded = load_spider(demo_dir, split)
        out[split] = [{**ex.to_dict(), "schema": serialize_schema(loaded.tables[ex.db_id], ex.db_path, 0)}
                      for ex in loaded.examples]
    return out
