"""Reward model scoring, pairwise metrics, fair selectors, the by-question split, and gold-free prompts."""

import json
import math
import subprocess
import sys

import pytest
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from sqlforge.prompts import example_prompt, sql_messages
from sqlforge.scoring.rm_report import calibration_bins, grouped_reports, pair_group, pairwise_report
from sqlforge.search.scorers import RewardScorer, policy_logprob_scores
from sqlforge.train.reward_model import distance_gap, rm_record
from sqlforge.search.selection import best_of_n, majority_vote, select
from sqlforge.sandbox.sqlite import ExecResult

from conftest import REPO, write_params, make_executor


def test_pairwise_report_on_a_known_set():
    report = pairwise_report(chosen=[2.0, 0.5, -1.0, 3.0], rejected=[1.0, 1.5, -2.0, 3.0])
    # margins 1, -1, 1, 0: a tie is not a win
    assert report == {"pairwise_accuracy": 0.5, "mean_margin": 0.25, "n_pairs": 4}


def test_grouped_reports_split_correct_against_wrong_from_two_wrong_sides():
    pairs = [{"chosen_distance": 0, "rejected_distance": None}, {"chosen_distance": 1, "rejected_distance": 2},
             {"chosen_distance": 0, "rejected_distance": 1}, {"chosen_distance": 2, "rejected_distance": None}]
    groups = [pair_group(p) for p in pairs]
    assert groups == ["chosen_correct", "both_wrong", "chosen_correct", "both_wrong"]
    report = grouped_reports(groups, chosen=[1.0, 0.0, 2.0, 5.0], rejected=[0.0, 1.0, 1.0, 1.0])
    assert report == {"both_wrong": {"pairwise_accuracy": 0.5, "mean_margin": 1.5, "n_pairs": 2},
                      "chosen_correct": {"pairwise_accuracy": 1.0, "mean_margin": 1.0, "n_pairs": 2}}


def test_margin_from_the_distance_gap():
    prompt = [{"role": "user", "content": "q"}]
    fixable_vs_unreachable = {"prompt": prompt, "chosen": "A", "rejected": "B", "chosen_distance": 1,
                              "rejected_distance": None}
    correct_vs_one_off = {**fixable_vs_unreachable, "chosen_distance": 0, "rejected_distance": 1}
    assert distance_gap(fixable_vs_unreachable, unreachable=3) == 2
    assert distance_gap(correct_vs_one_off, unreachable=3) == 1
    assert rm_record(fixable_vs_unreachable, margin_scale=0.5, unreachable=3)["margin"] == 1.0
    plain = rm_record(correct_vs_one_off)  # margin_scale 0: plain Bradley-Terry, no margin column
    assert "margin" not in plain and plain["chosen"] == [{"role": "assistant", "content": "A"}]


def test_policy_logprob_reference_is_the_models_own_sequence_log_prob(tiny_model, demo_records):
    """evaluate-rm's no-training reference: log p(SQL | chat prompt) through the engine (shared-prefix
    cache, batching) equals the sum of token log-probs from one plain forward pass per pair."""
    import torch
    from transformers import AutoModelForCausalLM

    from sqlforge.engine.hf import TransformersEngine
    from sqlforge.prompts import render

    records = demo_records["dev"][:4]
    prompts = [sql_messages(r["schema"], r["question"], r["evidence"]) for r in records]
    sqls = [r["gold"] for r in records]
    engine = TransformersEngine(str(tiny_model), batch_size=3)
    scores = policy_logprob_scores(engine, prompts, sqls)
    model = AutoModelForCausalLM.from_pretrained(tiny_model).eval()
    tok = AutoTokenizer.from_pretrained(tiny_model)
    for messages, sql, score in zip(prompts, sqls, scores):
        prompt_ids = tok(render(tok, messages), add_special_tokens=False)["input_ids"]
        sql_ids = tok(sql, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logits = model(torch.tensor([prompt_ids + sql_ids])).logits[0].float()
        logp = torch.log_softmax(logits[len(prompt_ids) - 1:-1], dim=-1)
        expected = logp.gather(-1, torch.tensor(sql_ids).unsqueeze(-1)).sum().item()
        assert score == pytest.approx(expected, rel=1e-4, abs=1e-3)
    assert len(set(scores)) == len(scores)  # different SQLs, different log-probs: not a constant


def test_calibration_bins_are_equal_count_and_sorted():
    scores = [float(i) for i in range(20)]
    correct = [i >= 10 for i in range(20)]
    bins = calibration_bins(scores, correct, bins=4)
    assert [b["candidates"] for b in bins] == [5, 5, 5, 5]
    assert [b["fraction_correct"] for b in bins] == [0.0, 0.0, 1.0, 1.0]
    assert bins[0]["mean_rm_score"] == 2.0


def rows(*values):
    return ExecResult(rows=[(v,) for v in values])


def test_majority_vote_groups_by_execution_result_never_by_gold():
    results = [rows(1), rows(2), rows(2), ExecResult(error_kind="syntax"), ExecResult(error_kind="syntax")]
    logprobs = [-1.0, -5.0, -3.0, -0.1, -0.1]
    # {2} has two votes; failed queries get none; the likelier member of the group is chosen
    assert majority_vote(results, logprobs) == 2
    # a tie between groups goes to the group with the likelier best member
    assert majority_vote([rows(1), rows(2)], [-2.0, -1.0]) == 1
    # row order does not split a group
    assert majority_vote([rows(1, 2), rows(3), rows(2, 1)], [0.0, 0.0, 0.0]) == 0
    assert majority_vote([ExecResult(error_kind="timeout")] * 3, [0.0] * 3) == 0


def test_best_of_n_and_select():
    assert best_of_n([0.1, 0.7, 0.7, -1.0]) == 1
    cands = {"candidates": [{"sql": "A", "logprob": -1.0}, {"sql": "B", "logprob": -2.0},
                            {"sql": "C", "logprob": -3.0}]}
    picks = select(cands, [rows(1), rows(2), rows(2)], rm_scores=[0.0, -1.0, 5.0], logprob_weight=1.0)
    # combined: 0-1=-1, -1-2=-3, 5-3=2 -> C; with weight 3: -3, -7, -4 -> A
    assert picks == {"greedy": "A", "majority_vote": "B", "best_of_n_rm": "C", "best_of_n_rm_logprob": "C"}
    assert select(cands, [rows(1), rows(2), rows(2)], [0.0, -1.0, 5.0], logprob_weight=3.0)["best_of_n_rm_logprob"] == "A"
    # weight 0 is best_of_n_rm itself
    assert select(cands, [rows(1)] * 3, [0.0, -1.0, 5.0], logprob_weight=0.0)["best_of_n_rm_logprob"] == "C"
    assert "best_of_n_rm" not in select(cands, [rows(1)] * 3, rm_scores=None, logprob_weight=1.0)


def test_reward_model_loads_and_scores_a_pair(tiny_model, demo_records, tmp_path):
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model, num_labels=1)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    model.config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(tmp_path / "rm")
    tokenizer.save_pretrained(tmp_path / "rm")
    rec = demo_records["dev"][0]
    prompt = sql_messages(rec["schema"], rec["question"])
    scorer = RewardScorer(str(tmp_path / "rm"), batch_size=2)
    chosen, rejected = scorer.score([prompt, prompt], [rec["gold"], "SELECT 1"])
    assert math.isfinite(chosen) and math.isfinite(rejected) and chosen != rejected
    # batching and padding do not change a score
    alone = scorer.score([prompt], [rec["gold"]])[0]
    assert alone == pytest.approx(chosen, abs=1e-4)


def test_merge_shards_splits_by_question(tmp_path, demo_records):
    train = tmp_path / "train.jsonl"
    records = demo_records["train"][:60]
    train.write_text("".join(json.dumps(r) + "\n" for r in records))
    shard = tmp_path / "trees" / "shard-0"
    shard.mkdir(parents=True)
    trees = []
    for rec in records:  # every question: a wrong root revised into a right one, plus a wrong sibling
        nodes = [{"id": 0, "parent": -1, "depth": 0, "sql": "SELECT 1", "correct": False, "error_kind": "ok",
                  "distance": 1, "kept": True},
                 {"id": 1, "parent": -1, "depth": 0, "sql": "SELECT 2", "correct": False, "error_kind": "ok",
                  "distance": None, "kept": True},
                 {"id": 2, "parent": 0, "depth": 1, "sql": rec["gold"], "correct": True, "error_kind": "ok",
                  "distance": 0, "kept": True}]
        trees.append({"question_id": rec["id"], "db_id": rec["db_id"], "nodes": nodes, "solved": True,
                      "solved_at_root": False})
    (shard / "trees.jsonl").write_text("".join(json.dumps(t) + "\n" for t in trees))
    # policy samples of every question: one right and two wrong (one runs, one fails) with repeats
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps({"id": rec["id"], "db_id": rec["db_id"], "samples": [
        {"sql": rec["gold"], "logprob": -1.0, "correct": True, "error_kind": "ok"},
        {"sql": "SELEC x", "logprob": -0.5, "correct": False, "error_kind": "syntax"},
        {"sql": "SELECT 2", "logprob": -3.0, "correct": False, "error_kind": "ok"},
        {"sql": "SELECT 2", "logprob": -2.0, "correct": False, "error_kind": "ok"}]}) + "\n" for rec in records))
    params = write_params(tmp_path / "params.yaml", {"tree": {"shards": [0]}, "pairs": {
        "test_fraction": 0.3, "kinds": ["emerge", "baseline", "execution"], "execution_per_question": 1}})
    proc = subprocess.run([sys.executable, str(REPO / "stages" / "merge_shards.py"), "--params", str(params),
                           "--trees", str(tmp_path / "trees"), "--train", str(train), "--samples", str(samples),
                           "--out", str(tmp_path / "pairs"), "--metrics", str(tmp_path / "trees.json")],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    split = {name: [json.loads(line) for line in (tmp_path / "pairs" / f"{name}.jsonl").read_text().splitlines()]
             for name in ("train", "test")}
    questions = {name: {p["question_id"] for p in pairs} for name, pairs in split.items()}
    assert questions["train"] and questions["test"]
    assert not questions["train"] & questions["test"]
    assert {p["kind"] for p in split["train"] + split["test"]} == {"emerge", "baseline", "execution"}
    execution = [p for p in split["train"] + split["test"] if p["kind"] == "execution"]
    # one per question, split with the question's tree pairs; the wrong SQL that runs is the hard negative
    assert len(execution) == len(records)
    gold = {r["id"]: r["gold"] for r in records}
    assert all(p["chosen"] == gold[p["question_id"]] and p["rejected"] == "SELECT 2" for p in execution)
    tree_questions = {name: {p["question_id"] for p in pairs if p["kind"] != "execution"} for name, pairs in split.items()}
    assert all(p["question_id"] in tree_questions[name] for name in split for p in split[name] if p["kind"] == "execution")


def test_inference_prompts_never_contain_gold(tiny_model, demo_records):
    """Prompts of candidates, evaluate-rm, mcts-explore and validate: no gold SQL, no gold rows."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    executor = make_executor()
    for rec in demo_records["dev"][:40]:
        gold_rows = executor.execute(rec["db_path"], rec["gold"]).rows
        texts = [example_prompt(tokenizer, rec), example_prompt(tokenizer, rec, prefix="SELECT"),
                 json.dumps(sql_messages(rec["schema"], rec["question"], rec["evidence"]))]
        for text in texts:
            assert rec["gold"] not in text
            assert not any(repr(tuple(row)) in text for row in gold_rows)
    executor.close()


def test_regroup_cuts_the_flat_list_per_question():
    from sqlforge.search.selection import regroup

    assert regroup(list("abcdef"), [1, 3, 0, 2]) == [["a"], ["b", "c", "d"], [], ["e", "f"]]
