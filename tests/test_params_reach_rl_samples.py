"""Every rl.* and samples.* key reaches what it configures: the trainer trl builds (GRPOConfig, DPOConfig,
the LoRA adapter), the reward and its sandbox, the DPO pairs, and the samples policy-samples writes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from conftest import REPO, repo_params, run_stage_main, write_params
from sqlforge.config import deep_merge
from sqlforge.io import dump_jsonl
from test_params_reach_engine_candidates_tree_sandbox_validate import nested

sys.path.insert(0, str(REPO / "stages"))


# --- rl: the trainers' settings (trl's own config objects, built by the stage's library) ---

def grpo_settings(overrides: dict, tmp_path: Path) -> dict:
    from sqlforge.train.rl import grpo_args, rl_lora

    params = repo_params({"rl": overrides})
    args = grpo_args(params.rl, params.engine, tmp_path)
    lora = rl_lora(params.rl)
    return {"seed": args.seed, "max_steps": args.max_steps, "learning_rate": args.learning_rate,
            "batch": args.per_device_train_batch_size, "num_generations": args.num_generations,
            "temperature": args.temperature, "top_p": args.top_p, "beta": args.beta, "epsilon": args.epsilon,
            "use_vllm": args.use_vllm, "max_completion_length": args.max_completion_length,
            "lora": (lora.r, lora.lora_alpha, lora.lora_dropout)}


RL_TRAINER = {  # rl key -> new value (the observable: the GRPOConfig and LoRA config the stage trains with)
    "seed": 7,
    "max_steps": 3,
    "learning_rate": 0.01,
    "prompts_per_step": 1,   # questions a step: the batch is prompts_per_step x group_size rollouts
    "group_size": 2,
    "temperature": 0.3,
    "top_p": 0.5,
    "beta": 0.04,
    "epsilon": 0.1,
    "lora_r": 4,
    "lora_alpha": 8,
    "lora_dropout": 0.1,
    # GPU profiles: trl generates the rollouts through vLLM (the GRPOConfig is built here; training needs a GPU)
    "use_vllm": True,
    "max_new_tokens": 5,     # a rollout's budget (0, the default, is engine.max_new_tokens)
}


@pytest.mark.parametrize("key", sorted(RL_TRAINER))
def test_each_rl_trainer_key_reaches_trls_config(key, tmp_path):
    before = grpo_settings({}, tmp_path)
    after = grpo_settings(nested(key, RL_TRAINER[key]), tmp_path)
    assert before != after, f"rl.{key}={RL_TRAINER[key]!r} did not reach trl's GRPOConfig or the LoRA config"


def test_rl_dpo_beta_and_sft_weight_reach_dpos_config(tiny_model, tmp_path):
    from datasets import Dataset

    from sqlforge.train.rl import build_dpo_trainer

    prompt = [{"role": "user", "content": "q"}]
    data = Dataset.from_list([{"prompt": prompt, "chosen": [{"role": "assistant", "content": "SELECT 1"}],
                               "rejected": [{"role": "assistant", "content": "SELECT 2"}]}] * 2)
    def args(**rl):
        return build_dpo_trainer(repo_params({"rl": {"max_steps": 1, **rl}}).rl, data, str(tiny_model),
                                 tmp_path / str(len(list(tmp_path.iterdir())))).args

    assert [args(dpo_beta=beta).beta for beta in (0.1, 0.5)] == [0.1, 0.5]
    plain, regularised = args(dpo_sft_weight=0.0), args(dpo_sft_weight=0.5)
    assert plain.loss_type == ["sigmoid"]  # ExCoT's plain DPO
    assert (regularised.loss_type, regularised.loss_weights) == (["sigmoid", "sft"], [1.0, 0.5])


# --- rl: the reward, its sandbox and the DPO pairs ---

@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> dict:
    import sqlite3

    db = tmp_path_factory.mktemp("rl_shop") / "shop.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE item (name TEXT, price INTEGER)")
        conn.executemany("INSERT INTO item VALUES (?, ?)", [("pen", 2), ("ink", 5)])
    return {"id": "q", "db_id": "shop", "db_path": str(db), "question": "?", "evidence": "", "difficulty": "easy",
            "gold": "SELECT name FROM item WHERE price > 4", "split": "train", "schema": ""}


SLOW = "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 3000000) SELECT count(*) FROM r"


def rewards(overrides: dict, shop: dict) -> tuple:
    import rl

    params = repo_params({"rl": overrides})
    with rl.reward_executor(params) as executor:
        reward = rl.execution_reward(params, {"q": shop}, executor)
        scores = reward(["SELECT name FROM item WHERE price > 4", "SELECT name FROM item", "SELEC", SLOW],
                        question_id=["q"] * 4)
        return tuple(scores), len(executor._workers)


RL_REWARD = {  # rl key -> new value (the observable: the rewards of a right, a wrong, a failing and a slow SQL)
    "reward.correct": 2.0,
    "reward.runs": 0.5,
    "reward.fails": -1.0,
    "timeout_s": 0.05,  # the slow query (a few tenths of a second) is cut off: `fails`, not `runs`
    "workers": 1,       # the sandbox worker processes judging rollouts
}


@pytest.mark.parametrize("key", sorted(RL_REWARD))
def test_each_rl_reward_key_reaches_the_reward_and_its_sandbox(key, shop):
    before, after = rewards({}, shop), rewards(nested(key, RL_REWARD[key]), shop)
    assert before != after, f"rl.{key}={RL_REWARD[key]!r} did not reach the reward"


class ReadData(Exception):
    """The stage went on to read its data in this process (no relaunch)."""


@pytest.mark.parametrize("key,value", [("launcher", "ddp"), ("num_processes", 3)])
def test_rl_launcher_keys_make_rl_relaunch_itself(key, value, tmp_path, monkeypatch):
    """rl.launcher re-runs the rl stage under accelerate (as sft.launcher does sft) before it reads anything;
    rl.num_processes sets how many processes; with the default (none) it trains in this process."""
    from test_params_reach_sft_rm_mcts_preprocess_pairs_data_model import launched_command, load_stage

    argv = [f"--{name}={tmp_path / name}" for name in
            ("train", "samples", "policy", "dev", "out", "predictions", "live", "metrics")]
    both = {"launcher": "ddp"} if key == "num_processes" else {}
    changed = launched_command("rl", "rl", {"rl": {**both, key: value}}, argv, tmp_path, monkeypatch)
    assert changed[changed.index("--num_processes") + 1] == str(value if key == "num_processes" else 1)
    assert changed[changed.index("--config_file") + 1].endswith("ddp.yaml")
    assert changed[-len(argv):] == argv and changed[-len(argv) - 3].endswith("rl.py")
    if key == "launcher":
        stage = load_stage("rl")
        monkeypatch.setattr(stage, "relaunch", lambda *a: pytest.fail("launcher none relaunched"))
        monkeypatch.setattr(stage, "read_records", lambda *a: (_ for _ in ()).throw(ReadData()))
        params = write_params(tmp_path / "none.yaml", {})
        monkeypatch.setattr(sys, "argv", ["rl", "--params", str(params), *argv])
        with pytest.raises(ReadData):
            stage.main()


def test_rl_pairs_per_question_sets_how_many_dpo_pairs_a_question_gives(shop):
    import rl

    samples = [{"id": "q", "db_id": "shop", "samples": [
        {"sql": "A", "logprob": -1.0, "correct": True, "error_kind": "ok"},
        {"sql": "B", "logprob": -1.0, "correct": True, "error_kind": "ok"},
        {"sql": "C", "logprob": -1.0, "correct": False, "error_kind": "ok"}]}]
    sizes = [len(rl.dpo_dataset({"q": shop}, samples, repo_params({"rl": {"pairs_per_question": k}}).rl.pairs_per_question, 0))
             for k in (1, 2)]
    assert sizes == [1, 2]


# --- samples: what policy-samples writes ---

SAMPLES_BASE = {"engine": {"max_new_tokens": 6}, "samples": {"n": 2, "max_questions": 3}}


@pytest.fixture(scope="module")
def samples_inputs(tmp_path_factory, demo_records) -> Path:
    root = tmp_path_factory.mktemp("samples_in")
    dump_jsonl(root / "train.jsonl", demo_records["train"][:6])
    return root


def run_samples(overrides: dict, inputs: Path, tiny_model: Path, tmp: Path, monkeypatch):
    import policy_samples

    built = []  # the sandbox the stage judges with (a spy: the real sandbox_executor builds it)
    real = policy_samples.sandbox_executor
    monkeypatch.setattr(policy_samples, "sandbox_executor", lambda *a, **kw: built.append(real(*a, **kw)) or built[-1])
    params = write_params(tmp / "params.yaml", deep_merge(SAMPLES_BASE, overrides))
    run_stage_main("policy_samples", ["--params", str(params), "--train", str(inputs / "train.jsonl"),
                                      "--model", str(tiny_model), "--out", str(tmp / "out"),
                                      "--metrics", str(tmp / "m.json")], monkeypatch)
    rows = [json.loads(line) for line in (tmp / "out" / "train.jsonl").read_text().splitlines()]
    return {"ids": [r["id"] for r in rows], "sqls": [[s["sql"] for s in r["samples"]] for r in rows],
            "logprobs": [[round(s["logprob"], 4) for s in r["samples"]] for r in rows],
            "timeout": built[0].timeout_s}


SAMPLES = {  # samples key -> new value (the observable: the questions, samples and sandbox timeout)
    "seed": 5,
    "n": 3,
    "temperature": 3.0,
    "top_p": 0.1,
    "max_questions": 2,
    "timeout_s": 7.0,
    "max_new_tokens": 2,     # the samples' budget (0, the default, is engine.max_new_tokens: 6 here)
}


@pytest.mark.parametrize("key", sorted(SAMPLES))
def test_each_samples_key_changes_what_policy_samples_writes(key, samples_inputs, tiny_model, tmp_path, monkeypatch):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    before = run_samples({}, samples_inputs, tiny_model, tmp_path / "a", monkeypatch)
    after = run_samples({"samples": {key: SAMPLES[key]}}, samples_inputs, tiny_model, tmp_path / "b", monkeypatch)
    assert before != after, f"samples.{key}={SAMPLES[key]!r} did not change what policy-samples writes"
