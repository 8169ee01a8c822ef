"""Every params.yaml key reaches the code it configures: a param that reaches nothing is a defect
(`sft.sampling: by_kind` once silently did nothing while the README credited it)."""

from __future__ import annotations

import ast
import dataclasses
import typing
from pathlib import Path

import pytest

from sqlforge import config

from conftest import REPO, repo_params


def leaf_keys(cls: type, prefix: str = "") -> list[tuple[str, type, str]]:
    """(dotted key, section class, field name) for every leaf of the params tree."""
    out = []
    for f in dataclasses.fields(cls):
        tp = typing.get_type_hints(cls)[f.name]
        key = f"{prefix}{f.name}"
        out += leaf_keys(tp, key + ".") if dataclasses.is_dataclass(tp) else [(key, cls, f.name)]
    return out


def attributes_read() -> set[str]:
    """Names read as attributes anywhere in the library and stage scripts (config.py only declares them)."""
    names: set[str] = set()
    files = [p for p in (REPO / "src" / "sqlforge").rglob("*.py") if p.name != "config.py"]
    for path in files + sorted((REPO / "stages").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
                names.add(node.attr)
    return names


def test_every_key_is_read_by_some_code():
    read = attributes_read()
    unread = [key for key, _, name in leaf_keys(config.Params) if name not in read]
    assert not unread, f"params nobody reads: {unread}"


def test_the_walk_covers_every_key_in_params_yaml():
    import yaml

    def flat(d, prefix=""):
        return [k for key, v in d.items() for k in (flat(v, f"{prefix}{key}.") if isinstance(v, dict)
                                                    else [f"{prefix}{key}"])]

    in_file = set(flat(yaml.safe_load((REPO / "params.yaml").read_text())))
    assert in_file == {key for key, _, _ in leaf_keys(config.Params)}


SFT_TRAINER = {  # sft key -> new value, and where the built trainer shows it
    "epochs": (2.5, lambda t: t.args.num_train_epochs),
    "max_steps": (7, lambda t: t.args.max_steps),
    "learning_rate": (0.01, lambda t: t.args.learning_rate),
    "lr_scheduler": ("linear", lambda t: str(t.args.lr_scheduler_type)),
    "warmup_ratio": (0.5, lambda t: t.args.warmup_steps),
    "batch_size": (3, lambda t: t.args.per_device_train_batch_size),
    "grad_accum": (2, lambda t: t.args.gradient_accumulation_steps),
    "max_length": (77, lambda t: t.args.max_length),
    "seed": (5, lambda t: (t.args.seed, t.args.data_seed)),
    "save_steps": (0, lambda t: str(t.args.save_strategy)),
    "packing": (True, lambda t: t.args.packing),
    "lora_r": (3, lambda t: t.model.peft_config["default"].r),
    "lora_alpha": (5, lambda t: t.model.peft_config["default"].lora_alpha),
    "lora_dropout": (0.3, lambda t: t.model.peft_config["default"].lora_dropout),
    # a string is a regular expression over module names for peft; "all-linear" becomes a set of names
    "target_modules": (r".*\.q_proj", lambda t: repr(t.model.peft_config["default"].target_modules)),
    "modules_to_save": (["lm_head"], lambda t: sorted(t.model.peft_config["default"].modules_to_save or [])),
    "method": ("full", lambda t: hasattr(t.model, "peft_config")),
    "sampling": ("group_by_length", lambda t: type(t.get_train_dataloader().batch_sampler.sampler).__name__),
    "precision": ("bf16", lambda t: (t.args.bf16, t.model.dtype)),
    "gradient_checkpointing": ("on", lambda t: t.args.activation_checkpointing
                               if hasattr(t.args, "activation_checkpointing") else t.args.gradient_checkpointing),
    "attn_implementation": ("eager", lambda t: t.model.config._attn_implementation),
}


@pytest.fixture(scope="module")
def sft_data(demo_records):
    from sqlforge.prompts import sql_messages
    from sqlforge.train.sft import sft_dataset

    return sft_dataset([{"prompt": sql_messages(r["schema"], r["question"]),
                         "completion": [{"role": "assistant", "content": r["gold"]}]}
                        for r in demo_records["train"][:8]])


@pytest.mark.parametrize("key", sorted(SFT_TRAINER))
def test_each_sft_key_changes_the_trainer_it_builds(key, sft_data, tiny_model, tmp_path):
    from sqlforge.train.sft import build_trainer

    value, seen = SFT_TRAINER[key]
    small = {"lora_r": 4, "lora_alpha": 8, "max_steps": 1}
    default = build_trainer(repo_params({"sft": small}).sft, sft_data, str(tiny_model), tmp_path / "a")
    changed = build_trainer(repo_params({"sft": {**small, key: value}}).sft, sft_data, str(tiny_model),
                            tmp_path / "b")
    assert seen(default) != seen(changed), f"sft.{key}={value!r} did not reach the trainer"


RM_TRAINER = {  # rm key -> new value, and where the built reward trainer shows it
    "epochs": (3.0, lambda t: t.args.num_train_epochs),
    "max_steps": (9, lambda t: t.args.max_steps),
    "learning_rate": (0.02, lambda t: t.args.learning_rate),
    "batch_size": (3, lambda t: t.args.per_device_train_batch_size),
    "grad_accum": (3, lambda t: t.args.gradient_accumulation_steps),
    "weight_decay": (0.2, lambda t: t.args.weight_decay),
    "max_length": (99, lambda t: t.args.max_length),
    "lora_r": (3, lambda t: t.model.peft_config["default"].r),
    "lora_alpha": (5, lambda t: t.model.peft_config["default"].lora_alpha),
    "lora_dropout": (0.3, lambda t: t.model.peft_config["default"].lora_dropout),
    "center_rewards_coefficient": (0.5, lambda t: t.args.center_rewards_coefficient),
    "seed": (4, lambda t: (t.args.seed, t.args.data_seed)),
}


@pytest.mark.parametrize("key", sorted(RM_TRAINER))
def test_each_rm_key_changes_the_reward_trainer_it_builds(key, tiny_model, tmp_path):
    from datasets import Dataset

    from sqlforge.train.reward_model import build_reward_trainer, rm_record

    prompt = [{"role": "user", "content": "how many singers?"}]
    pair = {"prompt": prompt, "chosen": "SELECT count(*) FROM singer", "rejected": "SELECT 1",
            "chosen_distance": 0, "rejected_distance": 1}
    data = Dataset.from_list([rm_record(pair)] * 4)
    value, seen = RM_TRAINER[key]
    default = build_reward_trainer(repo_params().rm, data, str(tiny_model), tmp_path / "a")
    changed = build_reward_trainer(repo_params({"rm": {key: value}}).rm, data, str(tiny_model), tmp_path / "b")
    assert seen(default) != seen(changed), f"rm.{key}={value!r} did not reach the trainer"


# --- every params.yaml key has a reach case: a table row here, in test_params_reach_engine_candidates_tree_sandbox_validate/_b.py, or a named test ---

ONE_OFF = {  # keys shown by a test of their own, not by a table row: key -> "module::test"
    "mcts.clauses": "test_params_reach_sft_rm_mcts_preprocess_pairs_data_model::test_mcts_clauses_sets_where_a_subquery_action_ends",
    "mcts.max_depth": "test_params_reach_sft_rm_mcts_preprocess_pairs_data_model::test_mcts_max_depth_makes_a_node_at_that_depth_terminal",
    "mcts.rm_weight": "test_params_reach_sft_rm_mcts_preprocess_pairs_data_model::test_mcts_rm_weight_adds_the_reward_models_score",
    "mcts.exec_weight": "test_params_reach_sft_rm_mcts_preprocess_pairs_data_model::test_mcts_exec_weight_adds_a_bonus_for_sql_that_returns_rows",
    "mcts.w_exp": "test_params_reach_sft_rm_mcts_preprocess_pairs_data_model::test_mcts_w_exp_changes_which_child_uct_selects",
    "mcts.selector": "test_params_reach_sft_rm_mcts_preprocess_pairs_data_model::test_mcts_selector_changes_the_chosen_candidate",
    "preprocess.psg.min_tables":
        "test_params_reach_sft_rm_mcts_preprocess_pairs_data_model::test_preprocess_psg_min_tables_sets_how_many_tables_make_a_prediction_hard",
    "preprocess.psg.hard_rule": "test_params_reach_sft_rm_mcts_preprocess_pairs_data_model::test_preprocess_psg_hard_rule_extended_also_counts_a_wrong_result",
    "preprocess.rationale.keep": "test_data_rationale::test_preprocess_rationale_keep_vote_drops_a_correct_rationale_most_samples_disagree_with",
    "preprocess.rationale.teacher": "test_data_rationale::test_preprocess_rationale_teacher_names_the_model_that_writes_the_rationales",
    "sandbox.timeout_s": "test_ask::test_ask_runs_sql_under_the_sandbox_section_of_its_params",
    "validate.bootstrap_resamples": "test_significance::test_validate_bootstrap_keys_set_the_interval_sqlforge_compare_prints",
    "validate.bootstrap_seed": "test_significance::test_validate_bootstrap_keys_set_the_interval_sqlforge_compare_prints",
    "engine.backend": "test_params_reach_engine_candidates_tree_sandbox_validate::test_engine_backend_vllm_is_chosen_and_refused_clearly_without_vllm",
    # engine.data_parallel=ray (Ray is an optional extra: these skip without it; the refusal test runs there)
    "engine.data_parallel": "test_engine_ray::test_two_ray_workers_give_the_single_process_outputs",
    "engine.ray_workers": "test_engine_ray::test_ray_workers_sets_how_many_workers_share_a_call",
    "engine.ray_address": "test_engine_ray::test_ray_address_joins_a_running_cluster",
    "rm.launcher": "test_params_reach_sft_rm_mcts_preprocess_pairs_data_model::test_rm_launcher_keys_make_train_rm_relaunch_itself",
    "rm.num_processes": "test_params_reach_sft_rm_mcts_preprocess_pairs_data_model::test_rm_launcher_keys_make_train_rm_relaunch_itself",
    # GPU-only: the value reaches vllm.LLM(...) (runs in the GPU lock's environment, make test-gpu-env)
    "engine.tensor_parallel_size": "test_vllm_contract::test_each_vllm_engine_key_reaches_the_llm_constructor",
    "engine.gpu_memory_utilization": "test_vllm_contract::test_each_vllm_engine_key_reaches_the_llm_constructor",
    "rl.method": "test_rl::test_rl_none_writes_no_model_and_no_predictions",
    "rl.launcher": "test_params_reach_rl_samples::test_rl_launcher_keys_make_rl_relaunch_itself",
    "rl.num_processes": "test_params_reach_rl_samples::test_rl_launcher_keys_make_rl_relaunch_itself",  # and the grpo/dpo runs beside it
    "rl.dpo_beta": "test_params_reach_rl_samples::test_rl_dpo_beta_and_sft_weight_reach_dpos_config",
    "rl.dpo_sft_weight": "test_params_reach_rl_samples::test_rl_dpo_beta_and_sft_weight_reach_dpos_config",
    "rl.pairs_per_question": "test_params_reach_rl_samples::test_rl_pairs_per_question_sets_how_many_dpo_pairs_a_question_gives",
    "rl.drop_uniform_groups": "test_rl::test_grpo_drop_uniform_groups_trains_only_on_mixed_questions",
    "tree.generator": "test_params_reach_engine_candidates_tree_sandbox_validate::"
                      "test_tree_generator_names_the_model_that_writes_the_trees",
}


def test_every_key_has_a_reach_case():
    """A new params.yaml key must come with a case showing it changes what its stage does; a case for a key
    params.yaml no longer has fails too."""
    import test_params_reach_engine_candidates_tree_sandbox_validate as a
    import test_params_reach_rl_samples as c
    import test_params_reach_sft_rm_mcts_preprocess_pairs_data_model as b

    tables = {"sft": [*SFT_TRAINER, *b.SFT_STAGE], "rm": [*RM_TRAINER, *b.RM_STAGE],
              "mcts": [*b.MCTS_SEARCH, *b.MCTS_STAGE], "preprocess": b.PREPROCESS, "pairs": b.PAIRS,
              "data": b.DATA, "model": b.MODEL, "cluster": b.CLUSTER, "engine": a.ENGINE, "candidates": a.CANDIDATES,
              "tree": a.TREE, "sandbox": a.SANDBOX, "validate": a.VALIDATE, "rl": [*c.RL_TRAINER, *c.RL_REWARD],
              "samples": c.SAMPLES}
    covered = {f"{section}.{key}" for section, keys in tables.items() for key in keys} | set(ONE_OFF)
    wanted = {key for key, _, _ in leaf_keys(config.Params)}
    assert not wanted - covered, f"keys without a reach case: {sorted(wanted - covered)}"
    assert not covered - wanted, f"cases for keys params.yaml no longer has: {sorted(covered - wanted)}"
    for target in ONE_OFF.values():  # read, not imported: test_vllm_contract skips on import without vLLM
        module, name = target.split("::")
        tree = ast.parse((REPO / "tests" / f"{module}.py").read_text())
        assert any(isinstance(node, ast.FunctionDef) and node.name == name for node in tree.body), target
