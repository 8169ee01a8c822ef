"""preprocess: normalized example records with schema text, and SFT prompt/completion data.

Writes data/prepared/{train,dev}.jsonl (one record per question, see
sqlforge.datasets) and data/prepared/sft.jsonl (chat prompt + SQL
completion, PSG prefix examples included).
"""

from __future__ import annotations

import argparse
import random
from collections import Counter
from pathlib import Path

from transformers import AutoTokenizer

from sqlforge.cli import run_stage, summary
from sqlforge.config import load_params
from sqlforge.datasets import load_spider, load_tables
from sqlforge.io import InputError, atomic_path, dump_jsonl, write_json
from sqlforge.models import resolve_model
from sqlforge.prompts import render, sql_messages
from sqlforge.psg import psg_prefixes
from sqlforge.schema import fit_schema


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--raw", default="data/raw")
    parser.add_argument("--base-model", default="models/base")
    parser.add_argument("--out", default="data/prepared")
    parser.add_argument("--metrics", default="metrics/preprocess.json")
    args = parser.parse_args()
    params = load_params(args.params)
    cfg = params.preprocess
    if cfg.psg.mode == "hard":
        raise InputError("params.yaml: preprocess.psg.mode=hard is not implemented yet (use random or all_prefixes)")

    raw = Path(args.raw)
    tokenizer = AutoTokenizer.from_pretrained(resolve_model(args.base_model))
    tables = load_tables(raw / "tables.json")
    schema_cache: dict[str, str] = {}

    def schema_of(db_id: str, db_path: str) -> str:
        if db_id not in schema_cache:
            try:
                schema_cache[db_id] = fit_schema(tables[db_id], db_path, cfg.sample_values, cfg.max_schema_tokens,
                                                 lambda text: len(tokenizer(text)["input_ids"]))
            except ValueError as e:
                raise InputError(f"{raw / 'tables.json'}: database {db_id!r}: {e}") from None
        return schema_cache[db_id]

    splits = {"train": load_spider(raw, "train"), "dev": load_spider(raw, params.data.dev_split)}
    rng = random.Random(cfg.seed)
    counts: dict = {}
    with atomic_path(args.out, is_dir=True) as out:
        records = {}
        for split, examples in splits.items():
            records[split] = [{**ex.to_dict(), "schema": schema_of(ex.db_id, ex.db_path)} for ex in examples]
            dump_jsonl(out / f"{split}.jsonl", records[split])
            counts[split] = len(records[split])
            counts[f"{split}_by_difficulty"] = dict(sorted(Counter(r["difficulty"] for r in records[split]).items()))

        sft = []
        for rec in records["train"]:
            for prefix in [""] + psg_prefixes(rec["gold"], cfg.psg.mode, cfg.psg.ratio, rng):
                sft.append({"id": rec["id"], "psg_prefix": prefix,
                            "prompt": sql_messages(rec["schema"], rec["question"], rec["evidence"], prefix),
                            "completion": [{"role": "assistant", "content": rec["gold"]}]})
        dump_jsonl(out / "sft.jsonl", sft)
        counts["sft_examples"] = len(sft)
        counts["psg_examples"] = sum(1 for s in sft if s["psg_prefix"])
        counts["psg_mode"] = cfg.psg.mode

    prompt_lengths = [len(tokenizer(render(tokenizer, s["prompt"]))["input_ids"]) for s in sft[:200]]
    counts["mean_prompt_tokens"] = sum(prompt_lengths) / max(1, len(prompt_lengths))
    write_json(args.metrics, counts)
    summary("preprocess", {k: v for k, v in counts.items() if not isinstance(v, dict)})


if __name__ == "__main__":
    run_stage(main)
