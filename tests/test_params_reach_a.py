"""Every key of the engine, sandbox, validate, candidates and tree sections reaches what it configures.

One table per section: key -> (a changed value, an observable of what the stage really built or did). Each
case runs the stage's own code twice, with params.yaml's default and with the one key changed, and asserts
the observable differs, so a key that reaches nothing fails its case. Stages run in this process (their
`main()`, as `dvc repro` runs them, but without a subprocess) on the real tiny model and real SQLite files;
the only stand-ins are spies that record what a stage built or passed on (the engine, the executor's query
timeouts), the real objects still doing the work. Where a key matters only together with another choice, the
table names that choice (`context`) and both runs get it.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from sqlforge.config import deep_merge
from sqlforge.io import InputError, dump_jsonl, read_jsonl

from conftest import REPO, repo_params, write_params

sys.path.insert(0, str(REPO / "stages"))


def run_stage_main(module: str, argv: list[str], monkeypatch) -> None:
    stage = __import__(module)
    monkeypatch.setattr(sys, "argv", [f"{module}.py", *argv])
    stage.main()


class Runs:
    """A stage's default run, made once per context and shared by the cases; changed runs made per case."""

    def __init__(self, tmp_path_factory, run):
        self.tmp, self.run, self.defaults = tmp_path_factory, run, {}

    def default(self, context: dict):
        key = json.dumps(context, sort_keys=True)
        if key not in self.defaults:
            with pytest.MonkeyPatch.context() as mp:
                self.defaults[key] = self.run(self.tmp.mktemp("default"), context, mp)
        return self.defaults[key]

    def changed(self, overrides: dict, monkeypatch):
        return self.run(self.tmp.mktemp("changed"), overrides, monkeypatch)


def nested(dotted: str, value) -> dict:
    """{"a": {"b": value}} for "a.b"."""
    out = value
    for part in reversed(dotted.split(".")):
        out = {part: out}
    return out


def assert_reaches(runs: Runs, section: str, key: str, value, seen, context: dict, monkeypatch) -> None:
    default = runs.default(context)
    changed = runs.changed(deep_merge(context, nested(f"{section}.{key}", value)), monkeypatch)
    before, after = seen(default), seen(changed)
    assert before != after, f"{section}.{key}={value!r} did not reach what it configures (both: {before!r})"


# --- candidates stage: engine.* and candidates.* ---------------------------------------------------------

# small enough for ~1 s a run: 2 of 3 dev questions, 2 samples of 6 tokens
CANDIDATES_BASE = {"engine": {"max_new_tokens": 6}, "candidates": {"n": 2, "max_questions": 2}}


@pytest.fixture(scope="module")
def candidates_runs(tmp_path_factory, tiny_model, demo_records):
    dev = tmp_path_factory.mktemp("cand-dev") / "dev.jsonl"
    dump_jsonl(dev, demo_records["dev"][:3])

    def run(tmp: Path, overrides: dict, monkeypatch):
        import candidates
        from sqlforge.engine import load_engine

        built = []  # the engine the stage builds (a spy: the real load_engine builds it)
        monkeypatch.setattr(candidates, "load_engine", lambda *a, **kw: built.append(load_engine(*a, **kw)) or built[-1])
        params = write_params(tmp / "params.yaml", deep_merge(CANDIDATES_BASE, overrides))
        run_stage_main("candidates", ["--params", str(params), "--dev", str(dev), "--model", str(tiny_model),
                                      "--out", str(tmp / "out"), "--metrics", str(tmp / "metrics.json")], monkeypatch)
        return SimpleNamespace(engine=built[0], out=read_jsonl(tmp / "out" / "dev.jsonl"))

    return Runs(tmp_path_factory, run)


def sampled(run) -> list:
    """Each sampled candidate's SQL and log-prob (the greedy one is index 0)."""
    return [(c["sql"], round(c["logprob"], 4)) for r in run.out for c in r["candidates"][1:]]


ADAPTER = object()  # replaced by the tiny LoRA adapter's folder

ENGINE = {  # engine key -> new value, what the candidates stage's engine or output shows, context
    "batch_size": (1, lambda r: r.engine.calls, {}),  # one prompt a batch: more model invocations
    "dtype": ("bfloat16", lambda r: str(r.engine.model.dtype), {}),
    "max_new_tokens": (3, lambda r: r.engine.generated_tokens, {}),
    # the samples reuse the greedy call's prompt KV only while the store is on
    "prefix_cache_tokens": (0, lambda r: r.engine.prefix_store.reused_tokens > 0, {}),
    "lora_adapter": (ADAPTER, lambda r: [round(rec["candidates"][0]["logprob"], 4) for rec in r.out], {}),
}


@pytest.mark.parametrize("key", sorted(ENGINE))
def test_each_engine_key_changes_the_engine_the_candidates_stage_builds(key, candidates_runs, tiny_lora_adapter,
                                                                        monkeypatch):
    value, seen, context = ENGINE[key]
    value = str(tiny_lora_adapter) if value is ADAPTER else value
    assert_reaches(candidates_runs, "engine", key, value, seen, context, monkeypatch)


def test_engine_backend_vllm_is_chosen_and_refused_clearly_without_vllm(tiny_model):
    """Rule: engine.backend picks the backend; on the CPU lock (no vLLM) `vllm` is a one-line InputError
    naming the fix, not a silent fallback to transformers."""
    try:
        import vllm  # noqa: F401
        pytest.skip("vLLM is installed: tests/test_vllm_contract.py checks the vllm backend")
    except ImportError:
        pass
    from sqlforge.engine import load_engine
    from sqlforge.engine.hf import TransformersEngine

    assert isinstance(load_engine(str(tiny_model), repo_params({"engine": {"batch_size": 2}}).engine),
                      TransformersEngine)
    with pytest.raises(InputError, match="engine.backend=vllm needs the GPU environment"):
        load_engine(str(tiny_model), repo_params({"engine": {"backend": "vllm"}}).engine)


CANDIDATES = {  # candidates key -> new value, what the stage's output shows, context
    "seed": (1, sampled, {}),
    "n": (3, lambda r: [len(rec["candidates"]) for rec in r.out], {}),
    "temperature": (0.1, sampled, {}),
    "top_p": (0.1, sampled, {}),
    "max_questions": (1, lambda r: [rec["id"] for rec in r.out], {}),
}


@pytest.mark.parametrize("key", sorted(CANDIDATES))
def test_each_candidates_key_changes_what_the_stage_generates(key, candidates_runs, monkeypatch):
    value, seen, context = CANDIDATES[key]
    assert_reaches(candidates_runs, "candidates", key, value, seen, context, monkeypatch)
