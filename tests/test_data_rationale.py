"""Reasoning targets (sqlforge.data.rationale, preprocess.reasoning): templated rationales from the gold's
clauses, the teacher path with the tiny model as teacher and its execution filter, and preprocess + SFT on
templated targets (what `dvc exp run -S preprocess.reasoning=templated` runs first)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from sqlforge.data.rationale import select_rationales, target, teacher_replies, templated_rationale, templated_targets
from sqlforge.extract import extract_sql, split_rationale

from conftest import REPO, make_executor, repo_params, write_params


def test_every_templated_target_reads_back_as_its_gold(demo_dir, demo_records):
    from sqlforge.data.datasets import load_spider

    tables = load_spider(demo_dir, "train").tables
    records = demo_records["train"]
    targets, counts = templated_targets(records, tables)
    assert counts["kept"] == counts["questions"] == len(records) and counts["gold_unparsed"] == 0
    for rec in records:
        rationale, sql = split_rationale(targets[rec["id"]])
        assert sql == extract_sql(rec["gold"]) and rationale.startswith("Let me think step by step.\n1. ")
    # the steps follow the SQL's clauses, with the schema's words for a column whose name differs from them
    rationale, parsed = templated_rationale(
        "SELECT T1.name FROM doctor AS T1 JOIN appointment AS T2 ON T1.doctor_id = T2.doctor_id "
        "WHERE T1.experience_years > 10 GROUP BY T1.name HAVING COUNT(*) > 2 ORDER BY T1.name LIMIT 3",
        tables["hospital"])
    assert parsed
    for step in ("years of experience is experience_years", "The rows come from doctor AS T1",
                 "Join appointment AS T2 on T1.doctor_id = T2.doctor_id", "Keep the rows where T1.experience_years > 10",
                 "Group them by T1.name", "Keep the groups where COUNT(*) > 2", "Sort by T1.name",
                 "Keep the first 3 rows", "Return T1.name"):
        assert step in rationale, step
    union, _ = templated_rationale("SELECT a FROM t INTERSECT SELECT a FROM u")
    assert "combines two queries with INTERSECT" in union
    assert templated_rationale("SELEC nonsense ((")[1] is False


@pytest.fixture(scope="module")
def teacher(tiny_model):
    from sqlforge.engine import load_engine

    return load_engine(str(tiny_model), repo_params({"engine": {"batch_size": 16}}).engine)


def plain(demo_records) -> list[dict]:
    """Train records whose gold neither counts nor limits: COUNT(*) or LIMIT 0 of it is another result."""
    return [r for r in demo_records["train"] if "COUNT" not in r["gold"] and "LIMIT" not in r["gold"]]


def correct_reply(rec: dict) -> str:
    return target("First find the rows, then return the asked column.", rec["gold"])


def test_the_execution_filter_drops_the_tiny_teachers_rationales_and_keeps_a_correct_one(teacher, demo_records):
    """The tiny model as teacher writes no usable rationale; a known-correct reply mixed in among its samples
    is the one kept; a reply whose SQL runs to another result, one whose SQL fails and one with no rationale
    before its block are dropped, each for its reason."""
    records = plain(demo_records)[:4]
    cfg = repo_params({"preprocess": {"rationale": {"samples": 3, "max_new_tokens": 24}}}).preprocess.rationale
    replies = teacher_replies(records, teacher, cfg)
    assert [len(r) for r in replies] == [3] * 4
    replies[0].insert(1, correct_reply(records[0]))  # the known-correct one, mixed in among the teacher's
    replies[1].append(target("Count instead.", "SELECT COUNT(*) FROM " + records[1]["gold"].split(" FROM ", 1)[1]))
    replies[2].append(target("Use a table that is not there.", "SELECT x FROM no_such_table"))
    replies[3].append(f"```sql\n{records[3]['gold']}\n```")
    with make_executor(workers=1) as executor:
        targets, counts, details = select_rationales(records, replies, executor, "spider", "first")
    assert set(targets) == {records[0]["id"]}
    assert targets[records[0]["id"]] == correct_reply(records[0])
    assert [s["verdict"] for s in details[0]["samples"]][1] == "kept"
    assert details[1]["samples"][-1]["verdict"] == "wrong_result"
    assert details[2]["samples"][-1]["verdict"] not in ("kept", "wrong_result", "no_sql_block")  # its error kind
    assert details[3]["samples"][-1]["verdict"] == "no_rationale"
    assert counts["generated"] == 16 and counts["kept"] == 1 and counts["questions_without_rationale"] == 3
    assert sum(counts["dropped_by_reason"].values()) == 15
    teacher_verdicts = [s["verdict"] for d in details for s in d["samples"][:3] if s["reply"] != correct_reply(records[0])]
    assert all(v != "kept" for v in teacher_verdicts) and "no_sql_block" in counts["dropped_by_reason"]


def test_preprocess_rationale_keep_vote_drops_a_correct_rationale_most_samples_disagree_with(demo_records):
    """keep: first takes the correct sample; vote (OmniSQL) keeps one only when the largest group of samples
    sharing an execution result is the gold's."""
    rec = plain(demo_records)[0]
    wrong = target("Return nothing.", rec["gold"] + " LIMIT 0")
    outvoted = [[wrong, wrong, correct_reply(rec)]]
    majority = [[wrong, correct_reply(rec), correct_reply(rec)]]
    with make_executor(workers=1) as executor:
        first, _, _ = select_rationales([rec], outvoted, executor, "spider", "first")
        vote, counts, _ = select_rationales([rec], outvoted, executor, "spider", "vote")
        vote_kept, _, details = select_rationales([rec], majority, executor, "spider", "vote")
    assert first == {rec["id"]: correct_reply(rec)}
    assert vote == {} and counts["dropped_by_reason"] == {"vote_lost": 1, "wrong_result": 2}
    assert vote_kept == {rec["id"]: correct_reply(rec)}
    assert [s["verdict"] for s in details[0]["samples"]] == ["wrong_result", "kept", "not_chosen"]


def test_preprocess_rationale_teacher_names_the_model_that_writes_the_rationales(tiny_model, small_demo, tmp_path,
                                                                               monkeypatch):
    """teacher: base is the stage's --base-model; a folder is another model, whose replies differ."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    other = tmp_path / "other"
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.5)
    model.save_pretrained(other)
    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(other)

    def replies(teacher: str) -> list:
        out = tmp_path / teacher.replace("/", "_")
        params = write_params(tmp_path / "params.yaml", {
            "preprocess": {"reasoning": "teacher", "rationale": {"teacher": teacher, "samples": 2, "max_new_tokens": 12}}})
        from conftest import run_stage_main

        run_stage_main("preprocess", ["--params", str(params), "--raw", str(small_demo), "--base-model", str(tiny_model),
                                      "--out", str(out / "prepared"), "--metrics", str(out / "preprocess.json")],
                       monkeypatch)
        rows = [json.loads(line) for line in (out / "prepared" / "rationales.jsonl").read_text().splitlines()]
        metrics = json.loads((out / "preprocess.json").read_text())["reasoning"]
        assert metrics["teacher"] == teacher and metrics["generated"] == 2 * len(rows)
        return [s["reply"] for row in rows for s in row["samples"]]

    assert replies("base") != replies(str(other))


@pytest.mark.slow
def test_preprocess_templated_then_sft_trains_on_rationale_targets(small_demo, tiny_model, tmp_path):
    """What `dvc exp run -S preprocess.reasoning=templated` runs first, on a tiny config: preprocess writes
    rationale targets (the SQL fenced after them), sft trains a few steps on them, and the bare run's
    prompts are unchanged."""
    params = write_params(tmp_path / "params.yaml", {
        "preprocess": {"reasoning": "templated"},
        "sft": {"max_steps": 3, "batch_size": 4, "lora_r": 4, "lora_alpha": 8, "save_steps": 0}})
    env_cmd = [sys.executable]

    def stage(script: str, *args) -> None:
        proc = subprocess.run([*env_cmd, str(REPO / "stages" / script), *map(str, args)], cwd=REPO,
                              capture_output=True, text=True, env={**__import__("os").environ,
                                                                   "PYTHONPATH": str(REPO / "src")})
        assert proc.returncode == 0, proc.stderr[-3000:]

    prepared = tmp_path / "prepared"
    stage("preprocess.py", "--params", params, "--raw", small_demo, "--base-model", tiny_model, "--out", prepared,
          "--metrics", tmp_path / "preprocess.json")
    sft = [json.loads(line) for line in (prepared / "sft.jsonl").read_text().splitlines()]
    train = {r["id"]: r for r in map(json.loads, (prepared / "train.jsonl").read_text().splitlines())}
    reasoned = [s for s in sft if not s["revision_of"]]
    assert reasoned and all(split_rationale(s["completion"][0]["content"])[0] for s in reasoned)
    assert all(extract_sql(s["completion"][0]["content"]) == extract_sql(train[s["id"]]["gold"]) for s in reasoned)
    assert all(s["completion"][0]["content"] == train[s["id"]]["gold"] for s in sft if s["revision_of"])
    metrics = json.loads((tmp_path / "preprocess.json").read_text())["reasoning"]
    assert metrics["mode"] == "templated" and metrics["mean_target_tokens"] > metrics["mean_bare_sql_tokens"]

    stage("sft.py", "--params", params, "--data", prepared / "sft.jsonl", "--base-model", tiny_model,
          "--out", tmp_path / "sft", "--live", tmp_path / "live", "--metrics", tmp_path / "sft.json")
    trained = json.loads((tmp_path / "sft.json").read_text())
    assert trained["steps"] == 3 and trained["train_loss"] > 0


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory):
    from sqlforge.demo.generate import generate_demo

    raw = tmp_path_factory.mktemp("small_demo")
    generate_demo(raw, seed=0, train_questions=24, dev_questions=4, layout="in_domain", train_databases=4,
                  dev_databases=2)
    return raw


def test_the_teacher_prompt_is_no_part_of_the_demo_tokenizers_corpus(small_demo):
    """fetch trains the tiny model's tokenizer on prompts/*.txt: the teacher's prompt lives in a subfolder, so
    adding it changed neither the default tokenizer nor the model (models/base stays byte-identical)."""
    sys.path.insert(0, str(REPO / "stages"))
    from fetch import tokenizer_corpus

    teacher_prompt = (REPO / "prompts" / "teacher" / "rationale.txt").read_text()
    corpus = tokenizer_corpus(repo_params(), small_demo)
    assert teacher_prompt not in corpus and not any("step by step" in text for text in corpus)
    assert (REPO / "prompts" / "system.txt").read_text() in corpus
