"""Every key of the engine, sandbox, validate, candidates and tree sections reaches what it configures.

One table per section: key -> (a changed value, an observable of what the stage really built or did).
Each case runs the stage's own code twice (sandbox: sandbox_executor, which every SQL-running
stage calls), on params.yaml (sized down: `*_BASE`) and with the one key changed, and asserts the observable differs,
so a key that reaches nothing fails its case (each case was checked to fail with its key cut off). Stages
run in this process (their `main()`, as `dvc repro` runs them, without a subprocess) on the real tiny
model and real SQLite files; the only stand-ins are spies that record what a stage built or passed on (the
engine, the executor, its query timeouts), the real objects still doing the work. Where a key matters only
together with another choice, the table names that choice (`context`) and both runs get it.
"""

from __future__ import annotations

import importlib.util
import json
import sqlite3
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from sqlforge.config import deep_merge
from sqlforge.io import InputError, dump_jsonl, read_jsonl

from conftest import REPO, repo_params, run_stage_main, write_params

sys.path.insert(0, str(REPO / "stages"))


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
        monkeypatch.setattr(candidates, "load_engine",
                            lambda *a, **kw: built.append(load_engine(*a, **kw)) or built[-1])
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


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None,
                    reason="vLLM is installed: tests/test_vllm_contract.py drives the vllm backend")
def test_engine_backend_vllm_is_chosen_and_refused_clearly_without_vllm(candidates_runs, monkeypatch):
    """Rule: engine.backend picks the backend the stage builds; on the CPU lock (no vLLM) `vllm` stops the
    stage with a one-line InputError naming the fix (run_stage: exit 2), never a silent transformers run.
    The keys only vLLM reads (tensor_parallel_size, gpu_memory_utilization): test_vllm_contract.py."""
    from sqlforge.engine.hf import TransformersEngine

    assert isinstance(candidates_runs.default({}).engine, TransformersEngine)
    with pytest.raises(InputError, match="engine.backend=vllm needs the GPU environment") as refused:
        candidates_runs.changed({"engine": {"backend": "vllm"}}, monkeypatch)
    assert "\n" not in str(refused.value)


CANDIDATES = {  # candidates key -> new value, what the stage's output shows, context
    "seed": (1, sampled, {}),
    "n": (3, lambda r: [len(rec["candidates"]) for rec in r.out], {}),
    "temperature": (0.1, sampled, {}),
    "top_p": (0.1, sampled, {}),
    "max_questions": (1, lambda r: [rec["id"] for rec in r.out], {}),
    # the budget of the greedy and sampled SQL (0, the default, is engine.max_new_tokens: 6 here)
    "max_new_tokens": (2, lambda r: [c["sql"] for rec in r.out for c in rec["candidates"]], {}),
}


@pytest.mark.parametrize("key", sorted(CANDIDATES))
def test_each_candidates_key_changes_what_the_stage_generates(key, candidates_runs, monkeypatch):
    value, seen, context = CANDIDATES[key]
    assert_reaches(candidates_runs, "candidates", key, value, seen, context, monkeypatch)


# --- tree-build stage: tree.* ------------------------------------------------------------------------------

# 6 training questions (shard 0 of 2 holds 2), one level of two branches, 6 tokens a SQL
TREE_BASE = {"engine": {"max_new_tokens": 6}, "tree": {"max_depth": 1, "branching": 2, "max_questions": -1}}


@pytest.fixture(scope="module")
def tree_runs(tmp_path_factory, tiny_model, demo_records):
    train = tmp_path_factory.mktemp("tree-train") / "train.jsonl"
    dump_jsonl(train, demo_records["train"][:6])

    def run(tmp: Path, overrides: dict, monkeypatch):
        import tree_build

        timeouts = []  # each prediction's timeout, as the stage hands it to its real executor
        gold_timeouts = []  # each gold's (golds run trusted, one at a time)

        def spying_executor(*args, **kwargs):
            executor = real_executor(*args, **kwargs)
            execute_many, execute = executor.execute_many, executor.execute

            def recorded(queries, progress=None, trusted=False):
                if not trusted:
                    timeouts.extend(q[2] for q in queries)
                return execute_many(queries, progress=progress, trusted=trusted)

            def recorded_one(db_path, sql, timeout_s=None, trusted=False):
                if trusted:
                    gold_timeouts.append(timeout_s)
                return execute(db_path, sql, timeout_s=timeout_s, trusted=trusted)

            executor.execute_many, executor.execute = recorded, recorded_one
            return executor

        real_executor = tree_build.sandbox_executor
        monkeypatch.setattr(tree_build, "sandbox_executor", spying_executor)
        params = write_params(tmp / "params.yaml", deep_merge(TREE_BASE, overrides))
        run_stage_main("tree_build", ["--params", str(params), "--shard", "0", "--train", str(train),
                                      "--model", str(tiny_model), "--out", str(tmp / "out"),
                                      "--metrics", str(tmp / "metrics.json"),
                                      "--checkpoint", str(tmp / "checkpoint.json")], monkeypatch)
        return SimpleNamespace(trees=read_jsonl(tmp / "out" / "trees.jsonl"), timeouts=timeouts,
                               gold_timeouts=gold_timeouts)

    return Runs(tmp_path_factory, run)


def node_sqls(run) -> list[list[str]]:
    return [[n["sql"] for n in t["nodes"]] for t in run.trees]


# the timeout is max(t_min, k * t_gold + c); t_gold is measured (noisy), so k and c are shown with the other
# terms pinned: t_min tiny, and c = 0 (k: any timeout over 1 s needs k * t_gold > 1) or k = 0 (timeout = c)
TREE = {  # tree key -> new value, what the stage's trees or executor calls show, context
    "seed": (1, node_sqls, {}),
    "shards": ([0, 1, 2], lambda r: [t["question_id"] for t in r.trees], {}),
    "branching": (3, lambda r: [sum(n["depth"] == 0 for n in t["nodes"]) for t in r.trees], {}),
    "max_depth": (2, lambda r: max(n["depth"] for t in r.trees for n in t["nodes"]), {}),
    "temperature": (0.1, node_sqls, {}),
    "top_p": (0.1, node_sqls, {}),
    "max_questions": (2, lambda r: [t["question_id"] for t in r.trees], {}),
    "max_new_tokens": (2, node_sqls, {}),  # 0, the default, is engine.max_new_tokens: 6 here
    "timeout.gold": (90.0, lambda r: sorted(set(r.gold_timeouts)), {}),
    "timeout.t_min": (50.0, lambda r: sorted(set(r.timeouts)), {}),
    "timeout.k": (1e7, lambda r: max(r.timeouts) > 1.0, {"tree": {"timeout": {"t_min": 1e-6, "c": 0.0}}}),
    "timeout.c": (5.0, lambda r: sorted(set(r.timeouts)), {"tree": {"timeout": {"t_min": 1e-6, "k": 0.0}}}),
}


@pytest.mark.parametrize("key", sorted(TREE))
def test_each_tree_key_changes_the_trees_the_stage_builds(key, tree_runs, monkeypatch):
    value, seen, context = TREE[key]
    assert_reaches(tree_runs, "tree", key, value, seen, context, monkeypatch)


def test_tree_generator_names_the_model_that_writes_the_trees(tmp_path, tiny_model, demo_dir, demo_records,
                                                              monkeypatch):
    """tree.generator: a model folder of its own writes the trees, not the policy the stage is given (--model):
    the trees are those the policy flag would give for that folder, and differ from the policy's."""
    sys.path.insert(0, str(REPO / "stages"))
    from fetch import tokenizer_corpus

    from sqlforge.train.tiny_model import build_tiny_model

    other = tmp_path / "other_model"  # a second tiny model: other weights (seed 1), the same corpus
    params = repo_params({"model": {"tiny": {"hidden_size": 64, "num_layers": 2, "intermediate_size": 128, "seed": 1}}})
    build_tiny_model(other, tokenizer_corpus(params, demo_dir), params.model.tiny)
    train = tmp_path / "train.jsonl"
    dump_jsonl(train, demo_records["train"][:6])

    def trees(name: str, model: Path, overrides: dict) -> list[list[str]]:
        run = tmp_path / name
        run.mkdir()
        params = write_params(run / "params.yaml", deep_merge(TREE_BASE, overrides))
        run_stage_main("tree_build", ["--params", str(params), "--shard", "0", "--train", str(train),
                                      "--model", str(model), "--out", str(run / "out"),
                                      "--metrics", str(run / "metrics.json"),
                                      "--checkpoint", str(run / "checkpoint.json")], monkeypatch)
        return [[n["sql"] for n in t["nodes"]] for t in read_jsonl(run / "out" / "trees.jsonl")]

    policy = trees("policy", tiny_model, {})  # params.yaml: generator policy
    separate = trees("separate", tiny_model, {"tree": {"generator": str(other)}})
    assert separate == trees("other_as_policy", other, {})
    assert separate != policy


# --- sandbox.*: the executor every SQL-running stage builds (sandbox_executor) -----------------------

def make_db(path: Path) -> Path:
    """A real SQLite database: t(a, b, c) with a repeated row, so DISTINCT, row and cell counts all matter."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE t (a INTEGER, b TEXT, c INTEGER)")
        con.executemany("INSERT INTO t VALUES (?, ?, ?)", [(1, "x", 10), (1, "x", 10), (2, "y", 20)])
    con.close()
    return path


@pytest.fixture(scope="module")
def shop_db(tmp_path_factory) -> Path:
    return make_db(tmp_path_factory.mktemp("sandbox") / "database" / "shop" / "shop.sqlite")


# about 2.5 MiB of result cost (2,000 strings of 1,200 characters): past a 1 MiB bound, within the default 32
BIG = ("WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 2000) "
       "SELECT hex(zeroblob(600)) || i FROM r")

# ~300 MB in the worker (a 100 MB blob and its 200 MB hex text) for a one-cell result: past a 256 MB address
# space (out_of_memory), within the default 1 GB
HUNGRY = "SELECT length(hex(zeroblob(100000000)))"


def outcome(sql: str, trusted: bool = False, times: int = 1):
    """What the executor does with `sql` on the test database: the error kind, and how many queries it ran."""
    def seen(executor, db):
        kinds = [executor.execute(db, sql, trusted=trusted).error_kind for _ in range(times)]
        return kinds, executor.calls
    return seen


SANDBOX = {  # sandbox key -> new value, what the built executor does with a query, context
    # a prediction's value is also capped by max_result_mb (SQLite's length limit): raised in both runs
    "memory_mb": (256, outcome(HUNGRY), {"max_result_mb": 1024}),
    "max_rows": (2, outcome("SELECT a FROM t"), {}),  # 3 rows: too_large past 2
    "max_cells": (8, outcome("SELECT a, b, c FROM t"), {}),  # 9 cells
    "max_result_mb": (1, outcome(BIG), {}),
    "cache_mb": (0, outcome("SELECT a FROM t", times=2), {}),  # no cache: the repeated query runs again
    "gold_memory_mb": (256, outcome(HUNGRY, trusted=True), {}),
    "gold_max_rows": (2, outcome("SELECT a FROM t", trusted=True), {}),
    "gold_max_cells": (8, outcome("SELECT a, b, c FROM t", trusted=True), {}),
    "gold_max_result_mb": (1, outcome(BIG, trusted=True), {}),
}


@pytest.mark.parametrize("key", sorted(SANDBOX))
def test_each_sandbox_key_changes_the_executor_stages_build(key, shop_db):
    from sqlforge.sandbox.executor import sandbox_executor

    value, seen, context = SANDBOX[key]
    observed = []
    for params in (repo_params({"sandbox": context}), repo_params({"sandbox": {**context, key: value}})):
        with sandbox_executor(params.sandbox, timeout_s=5.0) as executor:
            observed.append(seen(executor, str(shop_db)))
    assert observed[0] != observed[1], f"sandbox.{key}={value!r} did not reach the executor (both: {observed[0]!r})"


def test_sandbox_gold_max_rows_bounds_predictions_being_judged(shop_db):
    """Rule: a prediction being judged (validate: judging=True) may return as many rows as a gold, so
    sandbox.gold_max_rows, not max_rows, bounds it."""
    from sqlforge.sandbox.executor import sandbox_executor

    kinds = []
    for cap in (2, 3):
        params = repo_params({"sandbox": {"max_rows": 2, "gold_max_rows": cap}})
        with sandbox_executor(params.sandbox, timeout_s=5.0, judging=True) as executor:
            kinds.append(executor.execute(str(shop_db), "SELECT a FROM t").error_kind)
    assert kinds == ["too_large", "ok"]


# --- validate stage: validate.* ----------------------------------------------------------------------------

SLOW_ONE = ("WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 1000000) "
            "SELECT count(*) > 0 FROM r")  # a few tenths of a second; its gold answers at once

# (gold, greedy prediction): each question's verdict turns on one validate key
JUDGED = {
    "distinct": ("SELECT DISTINCT a FROM t", "SELECT a FROM t"),  # right only with DISTINCT removed
    "plug": ("SELECT a FROM t WHERE b = 'y'", "SELECT a FROM t WHERE b = 'x'"),  # right only with gold values
    "columns": ("SELECT a, b FROM t", "SELECT b, a FROM t"),  # Spider: right by a column permutation search
    "bag": ("SELECT a FROM t", "SELECT a FROM t UNION ALL SELECT a FROM t"),  # BIRD (sets): right; Spider: wrong
    "slow": ("SELECT 1", SLOW_ONE),  # right unless the prediction's timeout cuts it off
}


@pytest.fixture(scope="module")
def validate_runs(tmp_path_factory):
    inputs = tmp_path_factory.mktemp("validate-in")
    db = make_db(inputs / "database" / "shop" / "shop.sqlite")
    records = [{"id": qid, "db_id": "shop", "db_path": str(db), "question": qid, "evidence": "", "gold": gold,
                "difficulty": "easy", "split": "dev", "schema": ""} for qid, (gold, _) in JUDGED.items()]
    preds = [pred for _, pred in JUDGED.values()]
    dump_jsonl(inputs / "dev.jsonl", records)
    (inputs / "tables.json").write_text("{}")
    # the earlier stages' outputs, every candidate being the question's prediction (as tests/test_validate_stage.py)
    # the sample is the gold, which the reward model prefers and the policy finds less likely: best_of_n_rm
    # picks it, best_of_n_rm_logprob only when the log-prob weighs little (validate.rm_logprob_weight)
    dump_jsonl(inputs / "cands.jsonl", [{"id": r["id"], "db_id": "shop", "candidates": [
        {"sql": p, "logprob": -1.0, "source": "greedy"}, {"sql": r["gold"], "logprob": -2.0, "source": "sample"}]}
        for r, p in zip(records, preds)])
    dump_jsonl(inputs / "rm.jsonl", [{"id": r["id"], "rm_scores": [0.1, 0.5]} for r in records])
    dump_jsonl(inputs / "rl.jsonl", [])  # rl.method none
    dump_jsonl(inputs / "mcts.jsonl", [{"id": r["id"], "db_id": "shop", "selector": "best_path", "chosen_sql": p,
                                        "chosen_by_iterations": {"1": p},
                                        "candidates": [{"sql": p, "visits": 1, "q": 1.0, "reward": 1.0,
                                                        "intuition": 1.0, "goal": 0.0, "rm_score": None,
                                                        "exec_status": "ok", "exec_key": "k"}]}
                                       for r, p in zip(records, preds)])

    def run(tmp: Path, overrides: dict, monkeypatch):
        import validate

        built = []  # the executor the stage builds (a spy: the real sandbox_executor builds it)
        real = validate.sandbox_executor
        monkeypatch.setattr(validate, "sandbox_executor", lambda *a, **kw: built.append(real(*a, **kw)) or built[-1])
        params = write_params(tmp / "params.yaml", overrides)
        run_stage_main("validate", ["--params", str(params), "--dev", str(inputs / "dev.jsonl"),
                                    "--tables", str(inputs / "tables.json"),
                                    "--candidates", str(inputs / "cands.jsonl"),
                                    "--rm-scores", str(inputs / "rm.jsonl"), "--mcts", str(inputs / "mcts.jsonl"),
                                    "--rl-greedy", str(inputs / "rl.jsonl"),
                                    "--out", str(tmp / "out"), "--plots", str(tmp / "plots"),
                                    "--metrics", str(tmp / "metrics.json"),
                                    "--verdicts", str(tmp / "verdicts.tsv")], monkeypatch)
        greedy = read_jsonl(tmp / "out" / "greedy.jsonl")
        verdicts = [(v["id"], v["correct"], v["error_kind"]) for v in greedy]
        metrics = json.loads((tmp / "metrics.json").read_text())
        combined = [v["sql"] for v in read_jsonl(tmp / "out" / "best_of_n_rm_logprob.jsonl")]
        return SimpleNamespace(verdicts=verdicts, executor=built[0], timer=built[1], greedy=greedy, combined=combined,
                               bird={k: metrics["greedy"].get(k) for k in ("f1", "ves", "rves")},
                               files=sorted(p.name for p in (tmp / "out").iterdir()))

    return Runs(tmp_path_factory, run)


BIRD_TIMED = {"validate": {"rules": "bird", "max_questions": 2, "ves_runs": 3, "rves_runs": 3}}

VALIDATE = {  # validate key -> new value, what the stage's verdicts (or executor) show, context
    "rules": ("bird", lambda r: (r.verdicts, r.files), {}),  # and BIRD's own prediction files
    "timeout_s": (0.02, lambda r: r.verdicts, {}),
    "max_questions": (2, lambda r: r.verdicts, {}),
    "keep_distinct": (True, lambda r: r.verdicts, {}),
    "plug_value": (True, lambda r: r.verdicts, {}),
    "compare_budget_s": (1e-9, lambda r: r.verdicts, {}),
    # the executor's pool: how many sandbox worker processes it keeps
    "workers": (1, lambda r: len(r.executor._workers), {}),
    # BIRD's other metrics, on the two quick questions (`distinct` right under BIRD rules, `plug` wrong)
    "bird_metrics": (["f1"], lambda r: sorted(k for k, v in r.bird.items() if v is not None), BIRD_TIMED),
    "ves_runs": (5, lambda r: r.timer.timed_runs, BIRD_TIMED),  # paired runs the timing workers did
    "rves_runs": (5, lambda r: r.timer.timed_runs, BIRD_TIMED),
    # with a cut this tight no ratio is kept: the official then scores the question 0
    "outlier_sigmas": (1e-9, lambda r: [v["ves_ratio"] > 0 for v in r.greedy], BIRD_TIMED),
    "timing_workers": (2, lambda r: len(r.timer._workers), BIRD_TIMED),  # the timing executor's pool
    "rm_logprob_weight": (0.0, lambda r: r.combined, {}),  # weight 0: the reward model's pick alone
}


@pytest.mark.parametrize("key", sorted(VALIDATE))
def test_each_validate_key_changes_the_stage_verdicts(key, validate_runs, monkeypatch):
    value, seen, context = VALIDATE[key]
    assert_reaches(validate_runs, "validate", key, value, seen, context, monkeypatch)
