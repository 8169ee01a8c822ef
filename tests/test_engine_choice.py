"""Which backend each stage gets: `engine.backend` through `load_engine`, and the one documented exception
(evaluate-rm scores the policy on transformers, so vLLM holds no GPU memory while the reward model loads)."""

from __future__ import annotations

import sys

import pytest
import torch

from sqlforge.engine import load_engine
from sqlforge.engine.hf import TransformersEngine
from sqlforge.prompts import sql_messages
from sqlforge.search.scorers import policy_logprob_scores

from conftest import REPO, repo_params


def engine_cfg(**settings):
    """The engine section of params.yaml (the one source of defaults) with `settings` on top."""
    return repo_params({"engine": settings}).engine


def evaluate_rm_stage():
    sys.path.insert(0, str(REPO / "stages"))
    import evaluate_rm

    return evaluate_rm


def test_override_without_a_reason_is_refused(tiny_model):
    """Rule: a stage may leave engine.backend only with a stated reason."""
    with pytest.raises(ValueError, match="without a reason"):
        load_engine(str(tiny_model), engine_cfg(backend="vllm"), backend="transformers")
    with pytest.raises(ValueError, match="unknown backend"):
        load_engine(str(tiny_model), engine_cfg(), backend="onnx", reason="no such backend")


def test_evaluate_rm_policy_is_transformers_with_the_configured_adapter_and_dtype(tiny_model, tiny_lora_adapter,
                                                                                  demo_records):
    """Rule: evaluate-rm's policy engine is transformers even under engine.backend=vllm, and the rest of
    `engine` still reaches it: the LoRA adapter is served (scores equal base + adapter, not the base alone)
    and engine.dtype is the weights' dtype."""
    stage = evaluate_rm_stage()
    assert stage.POLICY_BACKEND == "transformers" and stage.POLICY_BACKEND_REASON
    records = demo_records["dev"][:3]
    prompts = [sql_messages(r["schema"], r["question"], r["evidence"]) for r in records]
    sqls = [r["gold"] for r in records]

    cfg = engine_cfg(backend="vllm", batch_size=4, lora_adapter=str(tiny_lora_adapter))
    policy = stage.policy_engine("models/merged: unused, the adapter names its base", cfg)
    assert isinstance(policy, TransformersEngine)
    served = policy_logprob_scores(policy, prompts, sqls)
    with_adapter = policy_logprob_scores(TransformersEngine(str(tiny_model), batch_size=4,
                                                            lora_path=str(tiny_lora_adapter)), prompts, sqls)
    base_only = policy_logprob_scores(TransformersEngine(str(tiny_model), batch_size=4), prompts, sqls)
    assert served == pytest.approx(with_adapter, abs=1e-4)
    assert all(abs(a - b) > 1e-3 for a, b in zip(served, base_only))

    bf16 = stage.policy_engine(str(tiny_model), engine_cfg(backend="vllm", dtype="bfloat16"))
    assert bf16.model.dtype == torch.bfloat16


def test_configured_backend_reaches_every_generating_stage():
    """Rule: every stage that generates or scores gets its engine from load_engine (no stage builds a
    backend class itself), so engine.backend, dtype and lora_adapter reach all of them."""
    for name in ("candidates", "tree_build", "mcts_explore", "preprocess", "evaluate_rm"):
        source = (REPO / "stages" / f"{name}.py").read_text()
        assert "load_engine(" in source, name
        assert "TransformersEngine(" not in source and "VLLMEngine(" not in source, name


def test_vllm_refuses_an_adapter_it_cannot_serve(tiny_model, tiny_lora_adapter, tmp_path):
    """Rule: an adapter with fully trained modules (the demo default modules_to_save: [embed_tokens, lm_head]),
    which vLLM 0.33 cannot serve for generation, is named as an input error before vLLM is even imported."""
    import json
    import shutil

    from sqlforge.io import InputError

    adapter = tmp_path / "adapter"
    shutil.copytree(tiny_lora_adapter, adapter)
    config = json.loads((adapter / "adapter_config.json").read_text())
    (adapter / "adapter_config.json").write_text(json.dumps({**config, "modules_to_save": ["lm_head", "embed_tokens"]}))
    with pytest.raises(InputError, match=r"adapter_config.json: .*modules_to_save \['embed_tokens', 'lm_head'\]"):
        load_engine(str(tiny_model), engine_cfg(backend="vllm", lora_adapter=str(adapter)))


def test_psg_hard_mode_asks_the_base_model_even_when_an_adapter_is_served(tiny_model, demo_records, tmp_path):
    """Rule: preprocess's hard-mode pass runs the base model; engine.lora_adapter (models/sft in the
    7B profile) names the adapter sft trains later from preprocess's output, so it must not be loaded."""
    sys.path.insert(0, str(REPO / "stages"))
    from preprocess import base_model_predictions

    records = demo_records["train"][:3]
    not_yet_trained = tmp_path / "models" / "sft"
    with_adapter_set = base_model_predictions(str(tiny_model), records,
                                              engine_cfg(lora_adapter=str(not_yet_trained)), 12)
    assert with_adapter_set == base_model_predictions(str(tiny_model), records, engine_cfg(), 12)
