"""The rl stage and what it is built from: the execution reward on hand-made completions, execution pairs,
policy-samples and rl through their real entry points (grpo, dpo, none) on the tiny model, kill and resume."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import REPO, make_executor, repo_params, two_machines, write_params
from sqlforge.data.execution import ExecutionReward, execution_pairs, label_samples, reward_of
from sqlforge.official.judge import Judge


# --- the reward on hand-made completions ---

@pytest.fixture()
def shop(tmp_path) -> dict:
    """A real SQLite database and one question about it, as preprocess writes questions."""
    db = tmp_path / "shop.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT, price INTEGER)")
        conn.executemany("INSERT INTO item VALUES (?, ?, ?)", [(1, "pen", 2), (2, "ink", 5), (3, "pad", 9)])
        conn.execute("CREATE TABLE big (n INTEGER)")
        conn.executemany("INSERT INTO big VALUES (?)", [(i,) for i in range(2000)])
    return {"id": "q1", "db_id": "shop", "db_path": str(db), "question": "Items dearer than 4?", "evidence": "",
            "gold": "SELECT name FROM item WHERE price > 4", "difficulty": "easy", "split": "train", "schema": ""}


def assistant(text: str) -> list[dict]:
    return [{"role": "assistant", "content": text}]


def test_execution_reward_scores_hand_made_completions(shop):
    completions = {
        "right": "SELECT name FROM item WHERE price >= 5",              # another SQL, the gold's result
        "runs_but_wrong": "SELECT name FROM item",
        "error": "SELECT nam FROM item",
        "timeout": "SELECT count(*) FROM big a, big b, big c",           # 8e9 rows: stopped by the timeout
        "write": "DELETE FROM item",
        "empty": "",
    }
    executor = make_executor(timeout_s=1.0, workers=2)
    try:
        reward = ExecutionReward({"q1": shop}, Judge("spider", executor), correct=1.0, runs=0.1, fails=0.0)
        scores = reward([assistant(c) for c in completions.values()], question_id=["q1"] * len(completions))
    finally:
        executor.close()
    assert dict(zip(completions, scores)) == {"right": 1.0, "runs_but_wrong": 0.1, "error": 0.0, "timeout": 0.0,
                                              "write": 0.0, "empty": 0.0}
    assert reward.calls == len(completions)
    with sqlite3.connect(shop["db_path"]) as conn:  # the write attempt changed nothing
        assert conn.execute("SELECT count(*) FROM item").fetchone() == (3,)
    assert reward.__name__ == "execution"  # trl logs rewards/<name>/mean


def test_reward_weights_are_the_params_not_constants():
    assert reward_of({"correct": True, "error_kind": "ok"}, 2.0, 0.5, -1.0) == 2.0
    assert reward_of({"correct": False, "error_kind": "ok"}, 2.0, 0.5, -1.0) == 0.5
    assert reward_of({"correct": False, "error_kind": "syntax"}, 2.0, 0.5, -1.0) == -1.0


def test_reward_reads_the_sql_after_the_assistant_text_as_every_stage_does(shop):
    executor = make_executor(timeout_s=5.0)
    try:
        reward = ExecutionReward({"q1": shop}, Judge("spider", executor), 1.0, 0.1, 0.0)
        # plain-text completions (a non-chat prompt) and a fenced reply are read the same way
        assert reward(["SELECT name FROM item WHERE price > 4", assistant("```sql\nSELECT name FROM item WHERE price > 4\n```")],
                      question_id=["q1", "q1"]) == [1.0, 1.0]
    finally:
        executor.close()


# --- execution pairs ---

def sample(sql, correct, logprob, error_kind="ok"):
    return {"sql": sql, "correct": correct, "logprob": logprob, "error_kind": error_kind}


def test_execution_pairs_put_hard_negatives_first_and_use_each_sql_before_reusing():
    samples = [sample("R1", True, -1.0), sample("R1", True, -0.5), sample("R2", True, -2.0),
               sample("E", False, -0.1, "syntax"), sample("W1", False, -3.0), sample("W2", False, -1.5)]
    # distinct texts; the hardest negative is wrong SQL that runs (W2 likelier than W1), not the likeliest
    # wrong SQL (E fails); pairs grow outward from the likeliest right SQL and the hardest negative
    assert sorted((r["sql"], w["sql"]) for r, w in execution_pairs(samples, 2, random.Random(0))) == [
        ("R1", "W2"), ("R2", "W2")]
    assert sorted((r["sql"], w["sql"]) for r, w in execution_pairs(samples, 3, random.Random(0))) == [
        ("R1", "W1"), ("R1", "W2"), ("R2", "W2")]
    every = execution_pairs(samples, 100, random.Random(0))
    assert len(every) == 2 * 3 and len({(r["sql"], w["sql"]) for r, w in every}) == 6
    assert execution_pairs([sample("R", True, 0.0)], 4, random.Random(0)) == []        # no wrong sample
    assert execution_pairs([sample("W", False, 0.0)], 4, random.Random(0)) == []       # no right sample


def test_label_samples_keeps_every_sample_with_its_verdict(shop):
    executor = make_executor(timeout_s=5.0)
    try:
        labelled = label_samples([shop], [["SELECT name FROM item WHERE price > 4", "SELECT 1", "SELEC"]],
                                 [[-1.0, -2.0, -3.0]], Judge("spider", executor))
    finally:
        executor.close()
    assert labelled == [{"id": "q1", "db_id": "shop", "samples": [
        sample("SELECT name FROM item WHERE price > 4", True, -1.0), sample("SELECT 1", False, -2.0),
        sample("SELEC", False, -3.0, "syntax")]}]


# --- the stages through their entry points on the tiny model ---

def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def rl_inputs(tmp_path_factory, tiny_model, demo_records):
    """train/dev files and policy-samples' output for 24 train questions, as the stages write them."""
    tmp = tmp_path_factory.mktemp("rl_inputs")
    train = write_jsonl(tmp / "train.jsonl", demo_records["train"][:24])
    dev = write_jsonl(tmp / "dev.jsonl", demo_records["dev"][:6])
    params = write_params(tmp / "params.yaml", {"samples": {"n": 3, "max_questions": 24},
                                                "engine": {"max_new_tokens": 24}})
    proc = subprocess.run([sys.executable, str(REPO / "stages" / "policy_samples.py"), "--params", str(params),
                           "--train", str(train), "--model", str(tiny_model), "--out", str(tmp / "samples"),
                           "--metrics", str(tmp / "samples.json")], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    samples = [json.loads(line) for line in (tmp / "samples" / "train.jsonl").read_text().splitlines()]
    # the untrained tiny model writes no right SQL: put the gold among each question's samples, so both the
    # mixed-group filter and the pairs have something to work with
    golds = {r["id"]: r["gold"] for r in demo_records["train"]}
    for s in samples[::2]:
        s["samples"][0] = {"sql": golds[s["id"]], "logprob": -1.0, "correct": True, "error_kind": "ok"}
    write_jsonl(tmp / "samples" / "train.jsonl", samples)
    return tmp, train, dev, json.loads((tmp / "samples.json").read_text())


def test_policy_samples_labels_n_samples_per_question(rl_inputs):
    tmp, _, _, metrics = rl_inputs
    assert metrics["questions"] == 24 and metrics["samples_per_question"] == 3
    assert metrics["questions_all_right"] + metrics["questions_all_wrong"] + metrics["questions_mixed"] == 24
    assert 0.0 <= metrics["sample_accuracy"] <= 1.0


def rl_command(inputs: Path, train: Path, dev: Path, tiny_model: Path, params: Path, out: Path) -> list[str]:
    return [sys.executable, str(REPO / "stages" / "rl.py"), "--params", str(params), "--train", str(train),
            "--samples", str(inputs / "samples" / "train.jsonl"), "--policy", str(tiny_model), "--dev", str(dev),
            "--out", str(out / "rl"), "--predictions", str(out / "preds"),
            "--live", str(out / "live"), "--metrics", str(out / "rl.json")]


RL_SMALL = {"max_steps": 2, "prompts_per_step": 2, "group_size": 2, "lora_r": 4, "lora_alpha": 8,
            "learning_rate": 0.01}


@pytest.mark.parametrize("method", ["grpo", "dpo"])
def test_rl_trains_merges_and_writes_greedy_dev_sql(method, rl_inputs, tiny_model, tmp_path):
    from safetensors.torch import load_file

    tmp, train, dev, _ = rl_inputs
    params = write_params(tmp_path / "params.yaml", {"rl": {**RL_SMALL, "method": method},
                                                     "engine": {"max_new_tokens": 24}})
    out = tmp_path / method
    proc = subprocess.run(rl_command(tmp, train, dev, tiny_model, params, out), cwd=REPO, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((out / "rl.json").read_text())
    assert metrics["method"] == method and metrics["steps"] == 2
    if method == "grpo":  # every rollout was judged in the sandbox: 2 steps x 2 questions x 2 rollouts
        assert metrics["rollouts_judged"] == 8 and "reward_last" in metrics
    # a plain merged model folder with the policy's prompt settings, and the adapter beside it
    assert (out / "rl" / "config.json").is_file() and (out / "rl" / "adapter" / "adapter_config.json").is_file()
    adapter = load_file(out / "rl" / "adapter" / "adapter_model.safetensors")
    lora_b = {k: v for k, v in adapter.items() if "lora_B" in k}  # peft initialises every B matrix at zero
    assert lora_b
    merged = load_file(out / "rl" / "model.safetensors")
    base = load_file(Path(tiny_model) / "model.safetensors")
    if method == "dpo":  # every trainable parameter changed, and so did the merged weights
        assert all(v.abs().sum() > 0 for v in lora_b.values())
        assert any(not torch.equal(merged[k], base[k]) for k in base if k in merged)
    else:
        # the untrained tiny model's rollouts all fail: every group has one reward, so zero advantage, and
        # GRPO makes no update at all (what drop_uniform_groups avoids spending steps on)
        assert metrics["frac_reward_zero_std_last"] == 1.0
        assert all(v.abs().sum() == 0 for v in lora_b.values())
    preds = [json.loads(line) for line in (out / "preds" / "dev.jsonl").read_text().splitlines()]
    assert len(preds) == 6 and all(len(p["candidates"]) == 1 for p in preds)
    assert (out / "live" / "plots" / "metrics").is_dir()


def test_rl_none_writes_no_model_and_no_predictions(rl_inputs, tiny_model, tmp_path):
    tmp, train, dev, _ = rl_inputs
    params = write_params(tmp_path / "params.yaml", {"rl": {"method": "none"}})
    proc = subprocess.run(rl_command(tmp, train, dev, tiny_model, params, tmp_path), cwd=REPO, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [p.name for p in (tmp_path / "rl").iterdir()] == ["rl_method.txt"]
    assert (tmp_path / "preds" / "dev.jsonl").read_text() == ""
    assert json.loads((tmp_path / "rl.json").read_text()) == {"method": "none"}


def test_grpo_drop_uniform_groups_trains_only_on_mixed_questions(rl_inputs, tiny_model, tmp_path):
    sys.path.insert(0, str(REPO / "stages"))
    from rl import grpo_dataset

    tmp, train, _, _ = rl_inputs
    records = {json.loads(line)["id"]: json.loads(line) for line in train.read_text().splitlines()}
    samples = [json.loads(line) for line in (tmp / "samples" / "train.jsonl").read_text().splitlines()]
    mixed = {s["id"] for s in samples if 0 < sum(x["correct"] for x in s["samples"]) < len(s["samples"])}
    assert mixed and len(mixed) < len(records)
    for value, expected in ((True, mixed), (False, set(records))):  # the rl.drop_uniform_groups value the stage passes
        drop = repo_params({"rl": {"drop_uniform_groups": value}}).rl.drop_uniform_groups
        assert set(grpo_dataset(records, samples, drop)["question_id"]) == expected


def test_a_killed_rl_run_resumes_from_its_checkpoint(rl_inputs, tiny_model, tmp_path):
    tmp, train, dev, _ = rl_inputs
    params = write_params(tmp_path / "params.yaml", {"rl": {**RL_SMALL, "method": "dpo", "max_steps": 30,
                                                            "learning_rate": 0.001},
                                                     "engine": {"max_new_tokens": 8}})
    cmd = rl_command(tmp, train, dev, tiny_model, params, tmp_path)
    killed = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    checkpoint = tmp_path / "rl-work" / "checkpoint-25"
    while not (checkpoint / "trainer_state.json").exists() and killed.poll() is None:
        time.sleep(0.05)
    assert killed.poll() is None, "training finished before it could be killed"
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    assert not (tmp_path / "rl").exists() and not (tmp_path / "rl.json").exists()
    rerun = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "rl: resuming from" in rerun.stderr and "checkpoint-25" in rerun.stderr
    assert json.loads((tmp_path / "rl.json").read_text())["steps"] == 30
    assert not (tmp_path / "rl-work").exists()


# --- under a launcher: several processes, rank 0 writes ---

@pytest.mark.slow
def test_dpo_on_two_machines_equals_one_process(rl_inputs, tiny_model, tmp_path):
    """rl.launcher + cluster.*: two "machines" (two accelerate launches, machine_rank 0 and 1, rendezvous at
    127.0.0.1, gloo, one process each) taking one pair a step each end with the adapter one process taking two
    pairs a step trains (within float tolerance); machine 0 alone writes the model, predictions and metrics.
    The loss is DPO's alone (dpo_sft_weight 0): trl's added NLL term is a token mean within each process's batch,
    so with it two processes weight the pairs' tokens differently from one (docs/architecture.md: Scale)."""
    from safetensors.torch import load_file

    tmp, train, dev, _ = rl_inputs
    common = {**RL_SMALL, "method": "dpo", "learning_rate": 0.001, "dpo_sft_weight": 0.0}
    write_params(tmp_path / "single.yaml", {"rl": {**common, "prompts_per_step": 2}, "engine": {"max_new_tokens": 8}})
    single = subprocess.run(rl_command(tmp, train, dev, tiny_model, tmp_path / "single.yaml", tmp_path / "single"),
                            cwd=REPO, capture_output=True, text=True)
    assert single.returncode == 0, single.stderr[-3000:]
    two_machines(lambda rank, cluster: write_params(tmp_path / f"machine{rank}.yaml", {
                     "rl": {**common, "prompts_per_step": 1, "launcher": "ddp", "num_processes": 1},
                     "engine": {"max_new_tokens": 8}, "cluster": cluster}),
                 lambda rank, params: rl_command(tmp, train, dev, tiny_model, params, tmp_path / f"machine{rank}"))
    ours = json.loads((tmp_path / "machine0" / "rl.json").read_text())
    theirs = json.loads((tmp_path / "single" / "rl.json").read_text())
    assert ours["processes"] == 2 and theirs["processes"] == 1 and ours["steps"] == theirs["steps"] == 2
    assert not any((tmp_path / "machine1" / name).exists() for name in ("rl", "preds", "live", "rl.json"))
    adapter, reference = (load_file(tmp_path / name / "rl" / "adapter" / "adapter_model.safetensors")
                          for name in ("machine0", "single"))
    assert adapter.keys() == reference.keys()
    for name in adapter:
        torch.testing.assert_close(adapter[name], reference[name], rtol=1e-3, atol=1e-4, msg=name)
    assert all(adapter[n].abs().sum() > 0 for n in adapter if "lora_B" in n)  # both runs really trained
    preds = [json.loads(line) for line in (tmp_path / "machine0" / "preds" / "dev.jsonl").read_text().splitlines()]
    assert len(preds) == 6


@pytest.mark.slow
def test_grpo_under_ddp_judges_every_processs_rollouts(rl_inputs, tiny_model, tmp_path):
    """rl.launcher: ddp with 2 processes: each generates and judges its own groups in its own sandbox; the
    metrics count both processes' rollouts, and rank 0 alone writes."""
    tmp, train, dev, _ = rl_inputs
    params = write_params(tmp_path / "params.yaml", {"rl": {**RL_SMALL, "method": "grpo", "launcher": "ddp",
                                                            "num_processes": 2},
                                                     "engine": {"max_new_tokens": 8}})
    proc = subprocess.run(rl_command(tmp, train, dev, tiny_model, params, tmp_path), cwd=REPO, capture_output=True,
                          text=True)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    metrics = json.loads((tmp_path / "rl.json").read_text())
    # 2 steps x 2 processes x 2 questions x 2 rollouts
    assert metrics["processes"] == 2 and metrics["steps"] == 2 and metrics["rollouts_judged"] == 16
    assert (tmp_path / "rl" / "config.json").is_file() and not (tmp_path / "rl-work").exists()
