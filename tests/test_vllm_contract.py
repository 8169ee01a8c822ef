"""The vLLM backend against vLLM's real classes, on CPU (runs in the GPU environment: `make test-gpu-env`).

`vllm.LLM` needs a GPU to start, so a stand-in takes its place: it loads the
same model folder with vLLM's own tokenizer loader, computes every token and
log-prob with transformers, and answers in vLLM 0.33's real output classes
(`RequestOutput`, `CompletionOutput`, `Logprob`, `FlatLogprobs` or a list of
dicts, filled by vLLM's own `append_logprobs_for_next_position`), stops at stop
strings with vLLM's own `check_stop_strings`, and receives the real
`SamplingParams` (which validates its arguments as on a GPU) and `LoRARequest`.
`VLLMEngine` and the stages then run unchanged: candidates, tree-build and
mcts-explore through their stage scripts, PSG hard mode, and evaluate-rm's
policy log-prob score; under greedy decoding every output must equal the
transformers backend's.

What this cannot reproduce on CPU, and so does not test: vLLM's sampler (the
stand-in draws samples with its own seeded torch generator, so sampled SQL is
only counted, never compared), its prefix caching and batching (the stand-in
runs one request at a time with a plain KV cache), bf16 kernels and LoRA
kernels (the stand-in merges the adapter with peft). `bench/gpu_check.sh`
compares the two backends on a real GPU.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
import yaml

vllm = pytest.importorskip("vllm", reason="vLLM is not installed: this contract runs in the GPU environment "
                                          "(make test-gpu-env, requirements-gpu.lock)")

from vllm import SamplingParams  # noqa: E402
from vllm.config.lora import LoRAConfig  # noqa: E402
from vllm.logprobs import (FlatLogprobs, Logprob, append_logprobs_for_next_position,  # noqa: E402
                           create_prompt_logprobs, create_sample_logprobs)
from vllm.lora.request import LoRARequest  # noqa: E402
from vllm.outputs import CompletionOutput, RequestOutput  # noqa: E402
from vllm.tokenizers.registry import get_tokenizer  # noqa: E402
from vllm.v1.engine.detokenizer import check_stop_strings  # noqa: E402

from sqlforge.config import deep_merge, params_from_dict  # noqa: E402
from sqlforge.engine import load_engine  # noqa: E402
from sqlforge.engine.hf import TransformersEngine  # noqa: E402
from sqlforge.engine.vllm_backend import VLLMEngine, position_logprob  # noqa: E402
from sqlforge.io import dump_jsonl, read_jsonl  # noqa: E402
from sqlforge.prompts import example_prompt, sql_messages  # noqa: E402
from sqlforge.search.scorers import policy_logprob_scores  # noqa: E402

from conftest import REPO, repo_params, run_stage_main, write_params  # noqa: E402

sys.path.insert(0, str(REPO / "stages"))

REAL_LLM = vllm.LLM  # its signatures check every call the backend makes to the stand-in
LOGPROB_TOL = 2e-4  # the transformers backend batches with padding and a shared-prefix cache: float noise only


class StandInLLM:
    """vllm.LLM's offline interface (constructor, get_tokenizer, generate) on CPU; see the module docstring.

    `logprobs_format`: "as_requested" honours SamplingParams.flat_logprobs (FlatLogprobs when set, as vLLM
    0.33 does); "list" always answers a list of dicts, as vLLM did before FlatLogprobs existed."""

    logprobs_format = "as_requested"
    instances: list[StandInLLM] = []

    def __init__(self, model: str, dtype: str = "auto", tensor_parallel_size: int = 1,
                 gpu_memory_utilization: float = 0.9, seed: int = 0, enable_lora: bool = False,
                 max_lora_rank: int = 16, **kwargs):
        import dataclasses
        import inspect

        from transformers import AutoModelForCausalLM
        from vllm.engine.arg_utils import EngineArgs

        # the backend's constructor call must fit the real LLM: named parameters, or EngineArgs fields
        inspect.signature(REAL_LLM.__init__).bind(self, model, dtype=dtype, tensor_parallel_size=tensor_parallel_size,
                                                  gpu_memory_utilization=gpu_memory_utilization, seed=seed)
        engine_fields = {f.name for f in dataclasses.fields(EngineArgs)}
        assert {"enable_lora", "max_lora_rank", *kwargs} <= engine_fields
        self.init_args = {"model": model, "dtype": dtype, "tensor_parallel_size": tensor_parallel_size,
                          "gpu_memory_utilization": gpu_memory_utilization, "enable_lora": enable_lora,
                          "max_lora_rank": max_lora_rank, **kwargs}
        if enable_lora:
            LoRAConfig(max_lora_rank=max_lora_rank)  # vLLM's own validation (it accepts only some ranks)
        self.tokenizer = get_tokenizer(model)  # vLLM's own loader: what LLM.get_tokenizer() returns
        self.base = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32).eval()
        self.adapted: dict[str, torch.nn.Module] = {}
        eos = self.base.generation_config.eos_token_id
        self.eos_id = self.tokenizer.eos_token_id
        # vLLM stops at the tokenizer's EOS and at the generation config's EOS ids (as stop token ids)
        self.stop_ids = {self.eos_id} | set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        self.seen_params: list[SamplingParams] = []
        StandInLLM.instances.append(self)

    def get_tokenizer(self):
        return self.tokenizer

    def _model(self, lora_request: LoRARequest | None):
        if lora_request is None:
            return self.base
        if not self.init_args["enable_lora"]:
            raise ValueError("LoRA is not enabled")  # vLLM refuses a LoRARequest without enable_lora
        if lora_request.lora_path not in self.adapted:
            from peft import PeftModel
            from transformers import AutoModelForCausalLM

            base = AutoModelForCausalLM.from_pretrained(self.init_args["model"], dtype=torch.float32)
            model = PeftModel.from_pretrained(base, lora_request.lora_path)
            if model.peft_config["default"].r > self.init_args["max_lora_rank"]:
                raise ValueError("LoRA rank is greater than max_lora_rank")  # as vLLM checks
            self.adapted[lora_request.lora_path] = model.merge_and_unload().eval()
        return self.adapted[lora_request.lora_path]

    def _flat(self, params: SamplingParams) -> bool:
        return params.flat_logprobs and self.logprobs_format == "as_requested"

    @torch.inference_mode()
    def generate(self, prompts, sampling_params: SamplingParams, lora_request: LoRARequest | None = None,
                 use_tqdm: bool = True) -> list[RequestOutput]:
        import inspect

        inspect.signature(REAL_LLM.generate).bind(self, prompts, sampling_params, lora_request=lora_request,
                                                  use_tqdm=use_tqdm)
        assert isinstance(sampling_params, SamplingParams)
        assert all(isinstance(p, dict) and set(p) == {"prompt_token_ids"} for p in prompts)  # TokensPrompt
        self.seen_params.append(sampling_params)
        model = self._model(lora_request)
        outputs = []
        for r, prompt in enumerate(prompts):
            ids = list(prompt["prompt_token_ids"])
            completions = [self._complete(model, ids, sampling_params, j) for j in range(sampling_params.n)]
            prompt_lps = (self._prompt_logprobs(model, ids, sampling_params)
                          if sampling_params.prompt_logprobs is not None else None)
            outputs.append(RequestOutput(request_id=str(r), prompt=None, prompt_token_ids=ids,
                                         prompt_logprobs=prompt_lps, outputs=completions, finished=True,
                                         lora_request=lora_request))
        return outputs

    def _append(self, container, logp: torch.Tensor, token: int, top: int) -> None:
        rank = int((logp > logp[token]).sum()) + 1
        append_logprobs_for_next_position(container, [token], [float(logp[token])],
                                          [self.tokenizer.decode([token])], rank, top)

    def _prompt_logprobs(self, model, ids: list[int], params: SamplingParams):
        logp = torch.log_softmax(model(torch.tensor([ids])).logits[0].float(), dim=-1)
        container = create_prompt_logprobs(self._flat(params))  # position 0: None
        for k in range(1, len(ids)):
            self._append(container, logp[k - 1], ids[k], params.prompt_logprobs)
        return container

    def _complete(self, model, ids: list[int], params: SamplingParams, index: int) -> CompletionOutput:
        # vLLM gives sample j of a seeded request the seed seed + j; the draw itself is not vLLM's sampler
        generator = torch.Generator().manual_seed((params.seed or 0) + index)
        container = create_sample_logprobs(self._flat(params)) if params.logprobs is not None else None
        tokens: list[int] = []
        total, text = 0.0, ""
        finish, stop_reason = "length", None
        past, step_input = None, torch.tensor([ids])
        for _ in range(params.max_tokens):
            out = model(input_ids=step_input, past_key_values=past, use_cache=True)
            past = out.past_key_values
            logp = torch.log_softmax(out.logits[0, -1].float(), dim=-1)
            if params.temperature == 0:
                token = int(logp.argmax())
            else:
                probs = torch.softmax(logp / params.temperature, dim=-1)
                ordered, order = probs.sort(descending=True)
                ordered[ordered.cumsum(0) - ordered >= params.top_p] = 0.0
                token = int(order[torch.multinomial(ordered, 1, generator=generator)])
            tokens.append(token)
            total += float(logp[token])
            if container is not None:
                self._append(container, logp, token, params.logprobs)
            if token in self.stop_ids:  # kept in token_ids, left out of the text, as vLLM does
                finish, stop_reason = "stop", None if token == self.eos_id else token
                break
            new_text = self.tokenizer.decode(tokens, skip_special_tokens=params.skip_special_tokens)
            hit = check_stop_strings(new_text, len(new_text) - len(text), list(params.stop or []),
                                     params.include_stop_str_in_output)
            text = new_text
            if hit is not None:
                stop_string, truncate_to = hit
                text = text if truncate_to == -1 else text[:truncate_to]
                finish, stop_reason = "stop", stop_string
                break
            step_input = torch.tensor([[token]])
        return CompletionOutput(index=index, text=text, token_ids=tokens, cumulative_logprob=total,
                                logprobs=container, finish_reason=finish, stop_reason=stop_reason)


@pytest.fixture(params=["as_requested", "list"])
def stand_in(request, monkeypatch):
    """vllm.LLM replaced by the stand-in for one test; both log-prob formats vLLM 0.33 can answer in."""
    monkeypatch.setattr(vllm, "LLM", StandInLLM)
    monkeypatch.setattr(StandInLLM, "logprobs_format", request.param)
    monkeypatch.setattr(StandInLLM, "instances", [])
    return StandInLLM


@pytest.fixture
def stand_in_flat(monkeypatch):
    """The stand-in answering as vLLM 0.33 does with flat_logprobs (the stage-level tests: one format)."""
    monkeypatch.setattr(vllm, "LLM", StandInLLM)
    monkeypatch.setattr(StandInLLM, "instances", [])
    return StandInLLM


@pytest.fixture
def prompts(tiny_model, demo_records):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    return [example_prompt(tok, rec) for rec in demo_records["dev"][:6]]


def smoke_params(tmp_path, **overrides) -> str:
    """params.yaml with the smoke profile and `overrides` merged in, written under tmp_path."""
    merged = deep_merge(yaml.safe_load((REPO / "profiles" / "smoke.yaml").read_text()), overrides)
    path = tmp_path / f"params-{overrides.get('engine', {}).get('backend', 'transformers')}.yaml"
    write_params(path, merged)
    params_from_dict(yaml.safe_load(path.read_text()), str(path))  # the same validation a real run applies
    return str(path)


def engine_cfg(**settings):
    """The engine section of params.yaml (the one source of defaults) with `settings` on top."""
    return repo_params({"engine": settings}).engine


def assert_same_completions(vllm_out, hf_out):
    assert [[c.text for c in cs] for cs in vllm_out] == [[c.text for c in cs] for cs in hf_out]
    for vs, hs in zip(vllm_out, hf_out):
        for v, h in zip(vs, hs):
            assert v.finish_reason == h.finish_reason
            assert v.token_logprobs == pytest.approx(h.token_logprobs, abs=LOGPROB_TOL)
            assert v.cumulative_logprob == pytest.approx(h.cumulative_logprob, abs=LOGPROB_TOL * 50)


def test_flat_and_list_logprobs_are_read_alike():
    """Rule: the backend reads vLLM 0.33's FlatLogprobs and the older list of dicts the same way."""
    flat, nested = create_sample_logprobs(True), create_sample_logprobs(False)
    assert isinstance(flat, FlatLogprobs) and isinstance(nested, list)
    for container in (flat, nested):
        append_logprobs_for_next_position(container, [7, 3], [-0.5, -0.1], ["a", "b"], 2, 1)
        append_logprobs_for_next_position(container, [4], [-1.25], ["c"], 1, 0)
    for container in (flat, nested):
        assert position_logprob(container, 0, 7) == -0.5 and position_logprob(container, 0, 3) == -0.1
        assert position_logprob(container, 1, 4) == -1.25
    assert isinstance(nested[0][7], Logprob)


def test_end_token_is_dropped_and_stop_string_tokens_cut(stand_in, tiny_model):
    """Rule: vLLM keeps the token that ended a completion (EOS, a stop token id) in token_ids and its
    log-prob in logprobs; the Completion holds only the text's tokens, as the transformers backend's does.
    (The random-weight tiny model rarely emits EOS, so this builds the output by hand, in vLLM's classes.)"""
    engine = load_engine(str(tiny_model), engine_cfg(backend="vllm"))
    tok = engine.tokenizer
    ids = tok("SELECT name FROM t", add_special_tokens=False)["input_ids"]
    for flat in (True, False):
        container = create_sample_logprobs(flat)
        for k, token in enumerate(ids + [tok.eos_token_id]):
            append_logprobs_for_next_position(container, [token], [-0.1 * (k + 1)], [None], 1, 0)
        out = CompletionOutput(index=0, text="SELECT name FROM t", token_ids=ids + [tok.eos_token_id],
                               cumulative_logprob=-9.0, logprobs=container, finish_reason="stop", stop_reason=None)
        comp = engine._completion(out)
        assert comp.token_logprobs == pytest.approx([-0.1 * (k + 1) for k in range(len(ids))])
        assert comp.cumulative_logprob == pytest.approx(sum(comp.token_logprobs)) and comp.finish_reason == "stop"
    capped = CompletionOutput(index=0, text="SELECT name FROM t", token_ids=ids, cumulative_logprob=None,
                              logprobs=None, finish_reason="length", stop_reason=None)
    assert engine._completion(capped).finish_reason == "length"


def test_engine_contract_and_greedy_equal_to_transformers(stand_in, tiny_model, prompts):
    """Rule: VLLMEngine offers what stages use (tokenizer, counters) and, greedy, gives the transformers
    backend's text, finish reasons and log-probs, with and without a stop string."""
    engine = load_engine(str(tiny_model), engine_cfg(backend="vllm", dtype="bfloat16", batch_size=8))
    assert isinstance(engine, VLLMEngine)
    llm = stand_in.instances[-1]
    assert llm.init_args["dtype"] == "bfloat16" and not llm.init_args["enable_lora"]
    reference = TransformersEngine(str(tiny_model), batch_size=8)
    assert example_prompt(engine.tokenizer, {"schema": "s", "question": "q", "evidence": ""}) == \
        example_prompt(reference.tokenizer, {"schema": "s", "question": "q", "evidence": ""})

    greedy = engine.generate(prompts, n=1, temperature=0.0, max_new_tokens=16)
    assert_same_completions(greedy, reference.generate(prompts, n=1, temperature=0.0, max_new_tokens=16))
    params = llm.seen_params[-1]
    assert (params.n, params.max_tokens, params.logprobs, params.flat_logprobs) == (1, 16, 0, True)
    assert engine.calls == 1 and engine.requests == len(prompts) and engine.generated_tokens > 0

    # a stop string that occurs inside the free greedy output cuts it in both backends
    stop = next(c[0].text[3:5] for c in greedy if len(c[0].text) > 6)
    cut = engine.generate(prompts, n=1, max_new_tokens=16, stop=[stop])
    assert_same_completions(cut, reference.generate(prompts, n=1, max_new_tokens=16, stop=[stop]))
    assert any(c[0].text != g[0].text for c, g in zip(cut, greedy))


def test_n_samples_and_greedy_n(stand_in, tiny_model, prompts):
    """Rule: n completions per prompt in prompt order; the seed, top_p and temperature reach SamplingParams;
    greedy with n > 1 (which vLLM's SamplingParams refuses) gives n copies of the greedy completion."""
    engine = load_engine(str(tiny_model), engine_cfg(backend="vllm"))
    llm = stand_in.instances[-1]
    sampled = engine.generate(prompts, n=3, temperature=0.8, top_p=0.95, max_new_tokens=12, seed=5)
    assert [len(cs) for cs in sampled] == [3] * len(prompts)
    params = llm.seen_params[-1]
    assert (params.n, params.temperature, params.top_p, params.seed) == (3, 0.8, 0.95, 5)
    assert sampled == engine.generate(prompts, n=3, temperature=0.8, top_p=0.95, max_new_tokens=12, seed=5)

    greedy_n = engine.generate(prompts, n=3, temperature=0.0, max_new_tokens=12)
    greedy_1 = engine.generate(prompts, n=1, temperature=0.0, max_new_tokens=12)
    assert [[c.text for c in cs] for cs in greedy_n] == [[cs[0].text] * 3 for cs in greedy_1]
    with pytest.raises(Exception, match="n must be 1 when using greedy sampling"):
        SamplingParams(n=3, temperature=0.0)  # what the backend must not send


def test_score_and_policy_logprob_reference_equal_transformers(stand_in, tiny_model, demo_records):
    """Rule: score() from vLLM's prompt log-probs equals the transformers backend's, per token; so does
    evaluate-rm's policy log-prob reference built on it."""
    records = demo_records["dev"][:5]
    messages = [sql_messages(r["schema"], r["question"], r["evidence"]) for r in records]
    sqls = [r["gold"] for r in records]
    engine = load_engine(str(tiny_model), engine_cfg(backend="vllm"))
    reference = TransformersEngine(str(tiny_model), batch_size=4)
    prompts = [example_prompt(reference.tokenizer, r) for r in records]
    got, want = engine.score(prompts, sqls), reference.score(prompts, sqls)
    for g, w in zip(got, want):
        assert len(g.token_logprobs) == len(w.token_logprobs) > 0
        assert g.token_logprobs == pytest.approx(w.token_logprobs, abs=LOGPROB_TOL)
    assert stand_in.instances[-1].seen_params[-1].prompt_logprobs == 0
    assert policy_logprob_scores(engine, messages, sqls) == pytest.approx(
        policy_logprob_scores(reference, messages, sqls), abs=LOGPROB_TOL * 50)


def test_served_lora_adapter_equals_transformers_with_the_adapter(stand_in, tiny_model, tiny_lora_adapter, prompts):
    """Rule: engine.lora_adapter makes vLLM serve base + adapter (enable_lora, the adapter's rank, a
    LoRARequest on every call), with the same greedy output as the transformers backend's adapter."""
    cfg = engine_cfg(backend="vllm", lora_adapter=str(tiny_lora_adapter))
    engine = load_engine("models/merged: unused, the adapter names its base", cfg)
    llm = stand_in.instances[-1]
    assert llm.init_args["model"] == str(tiny_model) and llm.init_args["enable_lora"]
    assert llm.init_args["max_lora_rank"] == 8  # the adapter's rank is 4; vLLM accepts 1, 8, 16, ...
    served = engine.generate(prompts, max_new_tokens=12)
    reference = load_engine("unused", engine_cfg(lora_adapter=str(tiny_lora_adapter), batch_size=8))
    assert_same_completions(served, reference.generate(prompts, max_new_tokens=12))
    base = TransformersEngine(str(tiny_model)).score(prompts[:2], ["SELECT", "SELECT"])
    assert [s.total for s in engine.score(prompts[:2], ["SELECT", "SELECT"])] != pytest.approx(
        [s.total for s in base], abs=1e-3)


VLLM_ENGINE_KEYS = {  # engine key -> a changed value; each must reach vllm.LLM(...) under its own name
    "dtype": "float16",
    "tensor_parallel_size": 2,
    "gpu_memory_utilization": 0.5,
}


@pytest.mark.parametrize("key", sorted(VLLM_ENGINE_KEYS))
def test_each_vllm_engine_key_reaches_the_llm_constructor(key, stand_in_flat, tiny_model):
    """Rule: engine.dtype, engine.tensor_parallel_size and engine.gpu_memory_utilization, which act only on
    the GPU, reach vllm.LLM(...): the default and the changed value each arrive as given (engine.lora_adapter:
    test_served_lora_adapter_equals_transformers_with_the_adapter)."""
    value = VLLM_ENGINE_KEYS[key]
    seen = []
    for cfg in (engine_cfg(backend="vllm"), engine_cfg(backend="vllm", **{key: value})):
        load_engine(str(tiny_model), cfg)
        seen.append(stand_in_flat.instances[-1].init_args[key])
    assert seen == [getattr(engine_cfg(), key), value] and seen[0] != seen[1]


def test_candidates_stage_greedy_equals_transformers(stand_in_flat, tiny_model, demo_records, tmp_path, monkeypatch):
    """Rule: the candidates stage on engine.backend=vllm (smoke profile) writes the transformers
    backend's greedy SQL and log-prob for every question, and candidates.n samples besides."""
    dev = tmp_path / "dev.jsonl"
    dump_jsonl(dev, demo_records["dev"][:6])
    out = {}
    for backend in ("vllm", "transformers"):
        params = smoke_params(tmp_path, engine={"backend": backend, "max_new_tokens": 24})
        run_stage_main("candidates", ["--params", params, "--dev", str(dev), "--model", str(tiny_model),
                                 "--out", str(tmp_path / backend), "--metrics", str(tmp_path / f"{backend}.json")],
                  monkeypatch)
        out[backend] = read_jsonl(tmp_path / backend / "dev.jsonl")
    n = params_from_dict(yaml.safe_load(Path(params).read_text())).candidates.n
    for v, t in zip(out["vllm"], out["transformers"]):
        assert v["candidates"][0]["source"] == "greedy" and v["candidates"][0]["sql"] == t["candidates"][0]["sql"]
        assert v["candidates"][0]["logprob"] == pytest.approx(t["candidates"][0]["logprob"], abs=1e-2)
        assert len(v["candidates"]) == len(t["candidates"]) == 1 + n


def test_tree_build_greedy_equals_transformers_and_the_stage_runs(stand_in_flat, tiny_model, demo_records, tmp_path,
                                                                   monkeypatch):
    """Rule: tree-build's trees (build_trees, revision prompts included) are the transformers backend's node
    for node under greedy decoding; and the tree-build stage runs end to end on engine.backend=vllm with the
    smoke profile's sampling (sampled SQL is not compared: the stand-in's sampler is not vLLM's)."""
    from sqlforge.sandbox.executor import sandbox_executor
    from sqlforge.search.trees import TreeSettings, build_trees

    records = demo_records["train"][:6]
    params = repo_params()
    # temperature 0 is not a valid tree.temperature (sampling), so greedy is asked of the library directly
    settings = TreeSettings(branching=2, max_depth=2, temperature=0.0, top_p=1.0, max_new_tokens=24, seed=0, gold_timeout_s=60.0,
                            t_min=2.0, k=1.2, c=1.0)
    trees = {}
    for backend in ("vllm", "transformers"):
        engine = load_engine(str(tiny_model), engine_cfg(backend=backend, batch_size=8))
        with sandbox_executor(params.sandbox, settings.t_min) as executor:
            trees[backend] = build_trees(records, engine, engine.tokenizer, executor, settings)
    assert [t["nodes"] for t in trees["vllm"]] == [t["nodes"] for t in trees["transformers"]]
    assert sum(len(t["nodes"]) for t in trees["vllm"]) > 2 * len(records)  # revisions happened too

    train = tmp_path / "train.jsonl"
    dump_jsonl(train, demo_records["train"][:10])
    stage_params = smoke_params(tmp_path, engine={"backend": "vllm", "max_new_tokens": 24},
                                tree={"max_depth": 2, "branching": 2, "max_questions": -1})
    run_stage_main("tree_build", ["--params", stage_params, "--shard", "0", "--train", str(train),
                                  "--model", str(tiny_model), "--out", str(tmp_path / "trees"),
                                  "--metrics", str(tmp_path / "trees.json"),
                                  "--checkpoint", str(tmp_path / "ckpt.json")], monkeypatch)
    built = read_jsonl(tmp_path / "trees" / "trees.jsonl")
    assert built and all(sum(n["depth"] == 0 for n in t["nodes"]) == 2 for t in built)
    assert stand_in_flat.instances[-1].seen_params[-1].temperature > 0


def test_mcts_stage_greedy_equals_transformers(stand_in_flat, tiny_model, demo_records, tmp_path, monkeypatch):
    """Rule: mcts-explore on engine.backend=vllm, greedy (greedy_plus_samples expansion with expand_n 1: the
    greedy continuation only),
    finds the transformers backend's candidates with the same rewards and chooses the same SQL."""
    dev = tmp_path / "dev.jsonl"
    dump_jsonl(dev, demo_records["dev"][:3])
    results = {}
    for backend in ("vllm", "transformers"):
        params = smoke_params(tmp_path, engine={"backend": backend, "max_new_tokens": 24},
                              # the random-weight model rarely ends a SQL: keep what the token limit cut off
                              mcts={"expansion": "greedy_plus_samples", "expand_n": 1, "max_questions": 3,
                                    "drop_truncated": False})
        run_stage_main("mcts_explore", ["--params", params, "--dev", str(dev), "--model", str(tiny_model),
                                        "--rm", str(tmp_path / "no-rm"), "--out", str(tmp_path / f"mcts-{backend}"),
                                        "--metrics", str(tmp_path / f"mcts-{backend}.json")], monkeypatch)
        results[backend] = read_jsonl(tmp_path / f"mcts-{backend}" / "results.jsonl")
    for v, t in zip(results["vllm"], results["transformers"]):
        assert v["chosen_sql"] == t["chosen_sql"]
        assert [(c["sql"], c["visits"]) for c in v["candidates"]] == [(c["sql"], c["visits"]) for c in t["candidates"]]
        assert [c["reward"] for c in v["candidates"]] == pytest.approx([c["reward"] for c in t["candidates"]],
                                                                        abs=1e-2)
    assert sum(len(r["candidates"]) for r in results["vllm"]) > 0
    assert json.loads((tmp_path / "mcts-vllm.json").read_text())["batched_model_calls"] > 0


def test_psg_hard_mode_predictions_equal_transformers(stand_in_flat, tiny_model, demo_records):
    """Rule: preprocess's PSG hard mode asks the base model through load_engine; on vllm (smoke profile's
    engine settings) it gets the transformers backend's greedy SQL."""
    from preprocess import base_model_predictions

    records = demo_records["train"][:6]
    smoke = yaml.safe_load((REPO / "profiles" / "smoke.yaml").read_text())["engine"]
    budget = smoke["max_new_tokens"]
    via_vllm = base_model_predictions(str(tiny_model), records, engine_cfg(**{**smoke, "backend": "vllm"}), budget)
    via_hf = base_model_predictions(str(tiny_model), records, engine_cfg(**smoke), budget)
    assert via_vllm == via_hf and len(via_vllm) == len(records)
    assert isinstance(stand_in_flat.instances[-1], StandInLLM)


def test_lora_ranks_are_the_ones_vllm_accepts():
    """Rule: the adapter's rank is rounded up to a max_lora_rank the installed vLLM accepts (its own list)."""
    import typing

    from vllm.config.lora import MaxLoRARanks

    from sqlforge.engine.vllm_backend import VLLM_LORA_RANKS, max_lora_rank
    from sqlforge.io import InputError

    assert VLLM_LORA_RANKS == typing.get_args(MaxLoRARanks)
    assert [max_lora_rank(r) for r in (1, 2, 8, 9, 32, 64, 500)] == [1, 8, 8, 16, 32, 64, 512]
    with pytest.raises(InputError, match="LoRA rank 600"):
        max_lora_rank(600)
