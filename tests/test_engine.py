"""The transformers engine on the real tiny model: seeds, n, stop strings, scoring."""

import pytest
import torch
from transformers import AutoTokenizer

from sqlforge.engine.hf import TransformersEngine
from sqlforge.extract import extract_sql
from sqlforge.prompts import example_prompt

from conftest import repo_params


@pytest.fixture(scope="module")
def engine(tiny_model):
    return TransformersEngine(str(tiny_model), batch_size=8)


@pytest.fixture(scope="module")
def prompts(engine, demo_records):
    return [example_prompt(engine.tokenizer, rec) for rec in demo_records["dev"][:6]]


def test_same_seed_same_samples_and_n_per_prompt(engine, prompts):
    a = engine.generate(prompts, n=3, temperature=1.0, max_new_tokens=12, seed=5)
    b = engine.generate(prompts, n=3, temperature=1.0, max_new_tokens=12, seed=5)
    c = engine.generate(prompts, n=3, temperature=1.0, max_new_tokens=12, seed=6)
    assert [len(x) for x in a] == [3] * len(prompts)
    texts = lambda out: [[comp.text for comp in x] for x in out]  # noqa: E731
    assert texts(a) == texts(b)
    assert texts(a) != texts(c)
    for comps in a:
        for comp in comps:
            assert comp.finish_reason in ("stop", "length")
            assert comp.cumulative_logprob == pytest.approx(sum(comp.token_logprobs))
            assert all(lp <= 0 for lp in comp.token_logprobs)


def test_batched_greedy_equals_one_prompt_at_a_time(engine, prompts):
    batched = engine.generate(prompts, n=1, max_new_tokens=16)
    single = [engine.generate([p], n=1, max_new_tokens=16)[0] for p in prompts]
    assert [b[0].text for b in batched] == [s[0].text for s in single]


def test_stop_strings_truncate(engine, prompts):
    free = engine.generate(prompts[:3], n=1, max_new_tokens=16)
    long_enough = [out[0].text for out in free if len(out[0].text) >= 4]
    assert long_enough, "no output long enough to cut: the test would check nothing"
    for text in long_enough:
        stop = text[2:4]
        cut = engine.generate(prompts[:3], n=1, max_new_tokens=16, stop=[stop])
        assert all(stop not in c[0].text for c in cut)


@pytest.mark.parametrize("same_prompt", [False, True], ids=["different prompts", "one prompt, many continuations"])
def test_score_matches_direct_forward(engine, prompts, same_prompt):
    continuations = [" SELECT name FROM t", "SELECT count(*) FROM t WHERE x = 3", " SELECT name FROM t"]
    chosen = [prompts[0]] * 3 if same_prompt else prompts[:3]
    scores = engine.score(chosen, continuations)
    tok, model = engine.tokenizer, engine.model
    for prompt, continuation, score in zip(chosen, continuations, scores):
        p_ids = tok(prompt, add_special_tokens=False)["input_ids"]
        c_ids = tok(continuation, add_special_tokens=False)["input_ids"]
        ids = torch.tensor([p_ids + c_ids])
        with torch.no_grad():
            logp = torch.log_softmax(model(ids).logits[0].float(), dim=-1)
        direct = [logp[len(p_ids) - 1 + j, t].item() for j, t in enumerate(c_ids)]
        assert score.total == pytest.approx(sum(direct), abs=1e-4)
        assert score.token_logprobs == pytest.approx(direct, abs=1e-4)


@pytest.mark.parametrize("raw,sql", [
    ("SELECT a FROM t", "SELECT a FROM t"),
    ("```sql\nSELECT a\nFROM t;\n```\nThis query lists a.", "SELECT a FROM t"),
    ("Here is the query: SELECT a FROM t WHERE b = 'x;y'; SELECT 2", "SELECT a FROM t WHERE b = 'x;y'"),
    ("SELECT a FROM t\n\nExplanation: it selects a", "SELECT a FROM t"),
    ("", ""),
])
def test_extract_sql(raw, sql):
    assert extract_sql(raw) == sql


def test_lora_adapter_engine_matches_merged_model(tiny_model, prompts, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from sqlforge.engine import load_engine

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(tiny_model)
    # random (not zero) B matrices, so the adapter really changes the outputs
    peft_model = get_peft_model(base, LoraConfig(r=4, target_modules="all-linear", init_lora_weights=False))
    peft_model.save_pretrained(tmp_path / "adapter")
    merged = peft_model.merge_and_unload()
    merged.save_pretrained(tmp_path / "merged")
    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(tmp_path / "merged")

    cfg = repo_params({"engine": {"batch_size": 8}}).engine
    via_adapter = load_engine("unused: the adapter names its base", repo_params(
        {"engine": {"batch_size": 8, "lora_adapter": str(tmp_path / "adapter")}}).engine)
    via_merged = load_engine(str(tmp_path / "merged"), cfg)
    plain = load_engine(str(tiny_model), cfg)
    a = [c[0].text for c in via_adapter.generate(prompts, max_new_tokens=12)]
    assert a == [c[0].text for c in via_merged.generate(prompts, max_new_tokens=12)]
    assert a != [c[0].text for c in plain.generate(prompts, max_new_tokens=12)]


def test_lora_adapter_that_is_not_one_is_named(tmp_path):
    from sqlforge.engine import load_engine
    from sqlforge.io import InputError

    with pytest.raises(InputError, match="adapter_config.json missing"):
        load_engine("x", repo_params({"engine": {"lora_adapter": str(tmp_path)}}).engine)


def test_vllm_backend_without_the_extra_names_it(tiny_model):
    import importlib.util

    from sqlforge.engine import load_engine
    from sqlforge.io import InputError

    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vLLM is installed here")
    with pytest.raises(InputError, match=r"make install-gpu \(requirements-gpu.lock\)"):
        load_engine(str(tiny_model), repo_params({"engine": {"backend": "vllm"}}).engine)


def test_samples_do_not_depend_on_batch_company(engine, prompts):
    batched = engine.generate(prompts, n=2, temperature=0.9, max_new_tokens=12, seed=3)
    alone = [engine.generate([p], n=2, temperature=0.9, max_new_tokens=12, seed=3)[0] for p in prompts]
    assert [[c.text for c in x] for x in batched] == [[c.text for c in x] for x in alone]


def test_row_sampler_draws_from_the_tempered_truncated_softmax():
    from sqlforge.engine.hf import RowSampler

    logits = torch.log(torch.tensor([[0.6, 0.3, 0.1]]))
    draws = torch.tensor([int(RowSampler([k], 1.0, 1.0)(None, logits).argmax()) for k in range(3000)])
    freq = torch.bincount(draws, minlength=3).float() / len(draws)
    assert torch.allclose(freq, torch.tensor([0.6, 0.3, 0.1]), atol=0.03)
    # top_p 0.5: only the most likely token is in the nucleus
    assert {int(RowSampler([k], 1.0, 0.5)(None, logits).argmax()) for k in range(200)} == {0}
    # top_p 0.85: the two most likely tokens
    assert {int(RowSampler([k], 1.0, 0.85)(None, logits).argmax()) for k in range(300)} == {0, 1}


def test_prefix_store_keeps_whole_blocks_behind_identical_prefixes_and_evicts_the_oldest():
    from sqlforge.engine.prefix_store import PrefixStore

    def kv(n, offset=0.0):  # two layers of (heads=2, n tokens, dim=4), each position's values = its index
        pos = torch.arange(n, dtype=torch.float32).view(1, n, 1).expand(2, n, 4) + offset
        return [(pos.clone(), -pos.clone()), (pos * 2, -pos * 2)]

    def lookup(tokens):  # (n, the stored blocks joined into one (keys, values) per layer)
        n, blocks = store.lookup_blocks(tokens)
        return n, [(torch.cat([b[i][0] for b in blocks], dim=1), torch.cat([b[i][1] for b in blocks], dim=1))
                   for i in range(2)] if blocks else None

    store = PrefixStore(max_tokens=32, block=16)
    a, b = list(range(40)), [99] + list(range(1, 20))
    store.add(a, kv(40))
    assert len(store) == 32  # the last 8 tokens are not a whole block
    n, layers = lookup(a + [7, 7])
    assert n == 32 and torch.equal(layers[1][0], kv(32)[1][0]) and torch.equal(layers[0][1], kv(32)[0][1])
    assert lookup(a[:20])[0] == 16
    assert lookup(b)[0] == 0  # same tokens from position 1 on, but not the same prefix
    store.add(b, kv(20, offset=100.0))
    assert len(store) == 32
    # the lookup of a[:20] touched a's first block last: a's second block was the oldest and went
    assert lookup(a)[0] == 16
    n, layers = lookup(b)
    assert n == 16 and torch.equal(layers[0][0], kv(16, offset=100.0)[0][0])


def test_prefix_store_reuses_prompt_kv_across_calls_without_changing_results(tiny_model, prompts):
    plain = TransformersEngine(str(tiny_model), batch_size=8, prefix_cache_tokens=0)
    cached = TransformersEngine(str(tiny_model), batch_size=8)
    want = plain.generate(prompts, n=2, temperature=0.9, max_new_tokens=16, seed=1)
    first = cached.generate(prompts, n=2, temperature=0.9, max_new_tokens=16, seed=1)
    reused_first = cached.prefix_store.reused_tokens  # later batches of one call reuse the shared system prompt
    again = cached.generate(prompts, n=2, temperature=0.9, max_new_tokens=16, seed=1)
    assert cached.prefix_store.reused_tokens - reused_first > reused_first  # every prompt's prefix is now held
    assert plain.prefix_store.reused_tokens == 0 and len(plain.prefix_store) == 0
    texts = lambda out: [[c.text for c in x] for x in out]  # noqa: E731
    assert texts(first) == texts(want) and texts(again) == texts(want)
    continuations = [" SELECT name FROM t"] * len(prompts)
    for got, expected in zip(cached.score(prompts, continuations), plain.score(prompts, continuations)):
        assert got.token_logprobs == pytest.approx(expected.token_logprobs, abs=1e-4)
