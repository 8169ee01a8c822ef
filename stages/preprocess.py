"""preprocess: normalized example records with schema text, and SFT prompt/completion data.

Writes data/prepared/{train,dev}.jsonl (one record per question, see
sqlforge.data.datasets) and data/prepared/sft.jsonl (chat prompt + SQL
completion, PSG prefix examples and revision examples included). Train examples whose gold SQL
fails or times out are dropped and counted; dev is kept whole. With `preprocess.reasoning` templated or
teacher, the completion of plain and PSG examples is a rationale followed by the SQL in a fenced block
(sqlforge.data.rationale); revision examples keep the bare SQL.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import time
from collections import Counter
from pathlib import Path

from transformers import AutoTokenizer

from sqlforge import prompt_settings
from sqlforge.stage_runner import progress, run_stage, summary
from sqlforge.config import load_params
from sqlforge.data.datasets import Split, load_split
from sqlforge.official.judge import RULES, gold_failures, rules_for
from sqlforge.extract import extract_sql
from sqlforge.data.gold_filter import executable_golds
from sqlforge.io import InputError, atomic_path, dump_jsonl, write_json
from sqlforge.base_model import resolve_model
from sqlforge.prompts import example_prompt, render
from sqlforge.data.psg import hard_reasons, plain_kept, psg_prefixes
from sqlforge.data.rationale import select_rationales, teacher_replies, templated_targets
from sqlforge.records import inference_messages
from sqlforge.data.revision import revision_examples
from sqlforge.data.schema import SchemaReader, fit_schema, load_descriptions
from sqlforge.sandbox.executor import sandbox_executor


def schema_texts(split: Split, cfg, tokenizer, reader: SchemaReader) -> dict[str, str]:
    """Schema text of every database the split's examples use, trimmed to the token budget; every query on
    a database runs in the reader's sandbox, and a table it cannot sample within bounds stays unsampled
    (reader.unsampled)."""
    texts: dict[str, str] = {}
    for ex in split.examples:
        if ex.db_id in texts:
            continue
        descriptions = load_descriptions(Path(ex.db_path).parent) if cfg.descriptions else None
        try:
            texts[ex.db_id] = fit_schema(split.tables[ex.db_id], ex.db_path, cfg.sample_values, cfg.max_schema_tokens,
                                         lambda text: len(tokenizer(text)["input_ids"]), descriptions, reader)
        except ValueError as e:
            raise InputError(f"{split.tables_path}: database {ex.db_id!r}: {e}") from None
    return texts


def unsampled_counts(reader: SchemaReader) -> dict:
    """preprocess metrics: tables left without sample values because reading them passed the sandbox's bounds."""
    names = sorted(f"{Path(db).stem}.{table}" for db, table in reader.unsampled)
    return {"unsampled_tables": len(names), "unsampled_table_names": names[:50]}


def base_model_predictions(model_dir: str, records: list[dict], engine_cfg, max_new_tokens: int) -> list[str]:
    """Greedy SQL of the base model for each record: PSG's hard-example pass."""
    from sqlforge.engine import load_engine  # only the hard mode needs a model in memory

    # the base model alone: engine.lora_adapter names the adapter sft trains later, from this stage's output
    engine = load_engine(model_dir, dataclasses.replace(engine_cfg, lora_adapter=""))
    engine.show_progress = True
    prompts = [example_prompt(engine.tokenizer, rec) for rec in records]
    outputs = engine.generate(prompts, n=1, temperature=0.0, max_new_tokens=max_new_tokens)
    return [extract_sql(out[0].text) for out in outputs]


def reasoning_targets(params, records: list[dict], tables: dict,
                      base_model: str) -> tuple[dict[str, str], dict, list[dict]]:
    """Question id -> SFT target with a rationale (preprocess.reasoning), the metrics of making them, and
    (teacher) every reply with its verdict."""
    cfg = params.preprocess
    if cfg.reasoning == "templated":
        return (*templated_targets(records, tables), [])
    from sqlforge.engine import load_engine  # only the teacher mode needs a model in memory

    rat = cfg.rationale
    start = time.monotonic()
    teacher = base_model if rat.teacher == "base" else rat.teacher
    engine = load_engine(teacher, dataclasses.replace(params.engine, lora_adapter=""))
    engine.show_progress = True
    replies = teacher_replies(records, engine, rat)
    generate_seconds = time.monotonic() - start
    rules = rules_for(params.data.dataset)
    with sandbox_executor(params.sandbox, RULES[rules]["timeout_s"], cfg.workers, judging=True) as judge:
        targets, counts, details = select_rationales(records, replies, judge, rules, rat.keep)
    counts.update(teacher=rat.teacher, samples=rat.samples, teacher_seconds=generate_seconds,
                  filter_seconds=time.monotonic() - start - generate_seconds,
                  teacher_tokens_per_question=engine.generated_tokens / max(1, len(records)))
    return targets, counts, details


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", required=True)
    parser.add_argument("--raw", required=True)
    parser.add_argument("--base-model", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--metrics", required=True)
    args = parser.parse_args()
    params = load_params(args.params)
    cfg = params.preprocess
    raw = Path(args.raw)

    # data: every split loaded and checked before anything is written
    tokenizer = AutoTokenizer.from_pretrained(resolve_model(args.base_model))
    # data.skip_missing_databases: opt-in; skipped questions are counted and printed, never dropped silently
    skip = params.data.skip_missing_databases
    splits = {"train": load_split(raw, params.data.dataset, "train", skip_missing_databases=skip),
              "dev": load_split(raw, params.data.dataset, "dev", params.data.dev_split, skip_missing_databases=skip)}
    counts: dict = {"dataset": params.data.dataset, "dev_split": params.data.dev_split,
                    "train_loaded": len(splits["train"].examples),
                    "skipped_missing_databases": {split: {"questions": sum(s.skipped.values()), "by_db": s.skipped}
                                                  for split, s in splits.items()}}
    with sandbox_executor(params.sandbox, cfg.gold_timeout_s, cfg.workers) as executor:
        with progress("checking train gold SQL", len(splits["train"].examples)) as advance:
            splits["train"].examples, gold_counts = executable_golds(splits["train"].examples, executor, advance)
        counts["train_gold_filter"] = gold_counts
        # dev stays whole (accuracy is over the official set), but a dev gold that fails is seen now, not at
        # the end of validate: counted here, under the official timeout and validate's row cap, and scored
        # there as the official evaluator does
        rules = rules_for(params.data.dataset)
        with sandbox_executor(params.sandbox, RULES[rules]["timeout_s"], cfg.workers, judging=True) as judge:
            counts["dev_gold_failures"] = gold_failures([ex.to_dict() for ex in splits["dev"].examples], rules, judge)

        records = {}
        # schema reads (declared types, sample values) under the sandbox's own bounds and timeout
        with sandbox_executor(params.sandbox, params.sandbox.timeout_s) as schema_executor:
            reader = SchemaReader(schema_executor)
            schemas_by_split = {split: schema_texts(loaded, cfg, tokenizer, reader) for split, loaded in splits.items()}
        counts.update(unsampled_counts(reader))
        for split, loaded in splits.items():
            schemas = schemas_by_split[split]
            records[split] = [{**ex.to_dict(), "schema": schemas[ex.db_id]} for ex in loaded.examples]
            counts[split] = len(records[split])
            counts[f"{split}_by_difficulty"] = dict(sorted(Counter(r["difficulty"] for r in records[split]).items()))

        hard = [False] * len(records["train"])
        if cfg.psg.mode == "hard":
            predictions = base_model_predictions(args.base_model, records["train"], params.engine,
                                                 params.engine.budget(cfg.psg.max_new_tokens))
            reasons = hard_reasons(records["train"], predictions, executor, rules_for(params.data.dataset),
                                   cfg.psg.min_tables, cfg.psg.hard_rule)
            hard = [bool(r) for r in reasons]
            counts["psg_hard_by_reason"] = dict(sorted(Counter(r for r in reasons if r).items()))
        revisions = revision_examples(records["train"], splits["train"].tables, executor, cfg.revision_ratio,
                                      random.Random(f"{cfg.seed}:revision")) if cfg.revision_ratio > 0 else []
    targets: dict[str, str] = {}
    rationales: list[dict] = []
    if cfg.reasoning != "none":
        targets, counts["reasoning"], rationales = reasoning_targets(params, records["train"],
                                                                     splits["train"].tables, args.base_model)

    # SFT examples: each train question once, plus its PSG prefix examples; a cut example replaces the plain
    # one (random and all_prefixes without keep_plain, as SQL-o1's data_process.py; hard with hard_mix
    # replace) or is added beside it (hard_mix add: SQL-o1's file of cut hard examples beside the plain data)
    rng = random.Random(cfg.seed)
    keep_plain = plain_kept(cfg.psg.mode, cfg.psg.keep_plain, cfg.psg.hard_mix)
    sft = []
    for rec, is_hard in zip(records["train"], hard):
        cuts = psg_prefixes(rec["gold"], cfg.psg.mode, cfg.psg.ratio, rng, is_hard, cfg.psg.clauses)
        for prefix in ([""] if keep_plain or not cuts else []) + cuts:
            sft.append({"id": rec["id"], "psg_prefix": prefix, "revision_of": "",
                        "prompt": inference_messages(rec, prefix),
                        "completion": [{"role": "assistant", "content": targets.get(rec["id"], rec["gold"])}]})
    sft += revisions  # revision prompt (wrong SQL + execution feedback) -> gold: what tree-build asks for
    counts["sft_examples"] = len(sft)
    counts["psg_examples"] = sum(1 for s in sft if s["psg_prefix"])
    counts["revision_examples"] = len(revisions)
    counts["psg_mode"] = cfg.psg.mode

    with atomic_path(args.out, is_dir=True) as out:
        for split, recs in records.items():
            dump_jsonl(out / f"{split}.jsonl", recs)
        # the tables.json entries of dev's databases: Spider's exact match resolves columns and keys by them
        dev = splits["dev"]
        write_json(out / "dev_tables.json", {db: dev.tables[db] for db in sorted({ex.db_id for ex in dev.examples})})
        dump_jsonl(out / "sft.jsonl", sft)
        if cfg.reasoning == "teacher":  # every teacher reply, its SQL and why it was kept or dropped
            dump_jsonl(out / "rationales.jsonl", rationales)
        # how these prompts were made: sft stores it in the model folder, so `sqlforge ask` asks the same way
        prompt_settings.write(out, prompt_settings.from_preprocess(cfg))

    prompt_lengths = [len(tokenizer(render(tokenizer, s["prompt"]))["input_ids"]) for s in sft[:200]]
    counts["mean_prompt_tokens"] = sum(prompt_lengths) / max(1, len(prompt_lengths))
    if targets:  # the cost of reasoning targets: tokens an SFT completion has, against the bare SQL
        sample = [rec for rec in records["train"] if rec["id"] in targets][:200]
        counts["reasoning"]["mean_target_tokens"] = sum(len(tokenizer(targets[r["id"]])["input_ids"])
                                                        for r in sample) / max(1, len(sample))
        counts["reasoning"]["mean_bare_sql_tokens"] = sum(len(tokenizer(r["gold"])["input_ids"])
                                                          for r in sample) / max(1, len(sample))
    write_json(args.metrics, counts)
    summary("preprocess", {**{k: v for k, v in counts.items() if not isinstance(v, dict)},
                           **{f"{split} questions skipped (database missing)": c["questions"]
                              for split, c in counts["skipped_missing_databases"].items() if c["questions"]},
                           "dev gold SQL failing (scored as the official evaluator does)":
                               counts["dev_gold_failures"]["count"]})


if __name__ == "__main__":
    run_stage(main)
