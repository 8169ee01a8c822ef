"""Every params.yaml key of mcts, preprocess, pairs, data and model (and the sft/rm keys the trainer tables of
test_params_reach.py leave out) reaches what it configures: run the real code the stage runs with the
defaults and with one key changed, and compare an observable of what it built or produced. Keys that act
only with another choice get that choice in both runs. A key that reaches nothing is a defect (xfail strict)."""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest

from conftest import REPO, repo_params

# --- mcts -------------------------------------------------------------------------------------------------

# The tiny model has random weights: its completions are clause-free noise that the token limit cuts off.
# Real-search cases therefore keep truncated completions (drop_truncated: false, both runs) and start at a
# "SELECT" node, so an action's intuition (psg prompt, action only) and its goal (plain prompt, whole SQL)
# are different numbers and alpha shows.
SEARCH_BASE = {"iterations": 2, "expand_n": 3, "top_k": 3, "drop_truncated": False}
_runs: dict = {}


@pytest.fixture(scope="module")
def engine(tiny_model):
    from sqlforge.engine.hf import TransformersEngine

    return TransformersEngine(str(tiny_model), batch_size=16)


def search_run(engine, record, overrides: dict, root_prefix: str = "SELECT", max_new_tokens: int = 4) -> dict:
    """One real MCTS over one question; everything it shows about the tree it grew (memoized: the search is
    deterministic, which test_the_search_is_deterministic pins, so the default run is shared)."""
    key = (record["id"], json.dumps(overrides, sort_keys=True), root_prefix, max_new_tokens)
    if key not in _runs:
        _runs[key] = _search_run(engine, record, overrides, root_prefix, max_new_tokens)
    return _runs[key]


def _search_run(engine, record, overrides, root_prefix, max_new_tokens) -> dict:
    from sqlforge.search.mcts import MCTS, Node, Search

    cfg = repo_params({"mcts": overrides}).mcts
    search = Search(record, engine.tokenizer, cfg.prompt == "psg")  # the stage's construction
    search.root = Node(prefix=root_prefix)
    calls = engine.calls
    mcts = MCTS(engine, engine.tokenizer, cfg, max_new_tokens)
    mcts.run([search])
    nodes, stack = [], [search.root]
    while stack:
        node = stack.pop()
        nodes.append((node.prefix, node.depth, node.terminal, round(node.intuition, 4), round(node.reward, 4),
                      node.visits))
        stack.extend(node.children)
    return {"nodes": sorted(nodes), "rewards": sorted(n[4] for n in nodes), "children": len(search.root.children),
            "completions": mcts.completions, "dropped": mcts.dropped_truncated, "calls": engine.calls - calls,
            "root_visits": search.root.visits}


def test_the_search_is_deterministic(engine, demo_records):
    """Without this, a key whose runs differ by chance would pass: the same settings grow the same tree."""
    assert _search_run(engine, demo_records["dev"][0], SEARCH_BASE, "SELECT", 4) == \
        _search_run(engine, demo_records["dev"][0], SEARCH_BASE, "SELECT", 4)


MCTS_SEARCH = {  # mcts key -> (new value, what the search shows)
    "seed": (7, "nodes"),
    "iterations": (1, "root_visits"),
    "expand_n": (1, "completions"),
    "top_k": (1, "children"),
    "alpha": (0.9, "rewards"),
    "expansion": ("greedy_plus_samples", "calls"),
    "temperature": (0.1, "nodes"),
    "top_p": (0.05, "nodes"),
    "drop_truncated": (True, "dropped"),
    "prompt": ("continuation", "nodes"),
}


@pytest.mark.parametrize("key", sorted(MCTS_SEARCH))
def test_each_mcts_key_changes_the_search(key, engine, demo_records):
    value, seen = MCTS_SEARCH[key]
    record = demo_records["dev"][0]
    default = search_run(engine, record, SEARCH_BASE)
    changed = search_run(engine, record, {**SEARCH_BASE, key: value})
    assert default[seen] != changed[seen], f"mcts.{key}={value!r} did not change the search's {seen}"


def children_of(overrides: dict, prefix: str, text: str):
    """The children MCTS makes of a node from one completion (its real expansion step, before scoring)."""
    from sqlforge.engine.base import Completion
    from sqlforge.search.mcts import MCTS, Node

    mcts = MCTS(None, None, repo_params({"mcts": overrides}).mcts, max_new_tokens=8)
    return [(c.action, c.terminal) for c in mcts._children(Node(prefix=prefix), [Completion(text=text)])]


def test_mcts_clauses_sets_where_a_subquery_action_ends():
    # nested (SQL-o1): the subquery's SELECT is one action; top_level: the whole subquery is
    args = ("SELECT a FROM t WHERE id IN (", " SELECT b FROM u)")
    assert children_of({}, *args) == [(" SELECT b", False)]
    assert children_of({"clauses": "top_level"}, *args) == [(" SELECT b FROM u)", True)]


def test_mcts_max_depth_makes_a_node_at_that_depth_terminal():
    args = ("", "SELECT a FROM t")
    assert children_of({}, *args) == [("SELECT a", False)]
    assert children_of({"max_depth": 1}, *args) == [("SELECT a", True)]


def terminal_bonus(overrides: dict, record: dict, tokenizer, reward_model=None, executor=None) -> dict:
    """What the search's terminal signals add to a complete SQL that runs and returns rows."""
    from sqlforge.search.mcts import MCTS, Node, Search

    cfg = repo_params({"mcts": overrides}).mcts
    mcts = MCTS(None, None, cfg, 8, reward_model=reward_model, executor=executor)
    search = Search(record, tokenizer, True)
    node = Node(prefix=f"SELECT count(*) FROM {first_table(record)}", terminal=True, complete=True)
    return {"bonus": list(mcts._terminal_signals([(search, node)]).values()), "rm_score": node.rm_score,
            "executes": node.executes}


def first_table(record: dict) -> str:
    import sqlite3

    with sqlite3.connect(f"file:{record['db_path']}?mode=ro", uri=True) as con:
        return con.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name").fetchone()[0]


@pytest.fixture(scope="module")
def reward_model(tiny_model, tmp_path_factory):
    """A real reward model folder (the tiny model with a fresh score head), as train-rm writes one."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from sqlforge.search.scorers import RewardScorer

    out = tmp_path_factory.mktemp("rm")
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model, num_labels=1)
    model.config.pad_token_id = model.config.pad_token_id or model.config.eos_token_id
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(out)
    return RewardScorer(str(out))


def test_mcts_rm_weight_adds_the_reward_models_score(reward_model, engine, demo_records):
    record = demo_records["dev"][0]
    default = terminal_bonus({}, record, engine.tokenizer, reward_model=reward_model)
    changed = terminal_bonus({"rm_weight": 2.0}, record, engine.tokenizer, reward_model=reward_model)
    assert default["bonus"] == [] and default["rm_score"] is None  # SQL-o1: off
    assert changed["rm_score"] is not None and changed["bonus"] == [pytest.approx(2.0 * changed["rm_score"])]


def test_mcts_exec_weight_adds_a_bonus_for_sql_that_returns_rows(engine, demo_records):
    from sqlforge.sandbox.executor import sandbox_executor

    params = repo_params()
    record = demo_records["dev"][0]
    executor = sandbox_executor(params.sandbox, params.mcts.timeout_s)
    try:
        default = terminal_bonus({}, record, engine.tokenizer, executor=executor)
        changed = terminal_bonus({"exec_weight": 3.0}, record, engine.tokenizer, executor=executor)
    finally:
        executor.close()
    assert default["bonus"] == [] and default["executes"] is None
    assert changed["executes"] is True and changed["bonus"] == [3.0]


def test_mcts_w_exp_changes_which_child_uct_selects():
    """On the tiny model's noise the exploration weight rarely changes a 2-4 iteration tree, so: the
    selection step MCTS.run takes (`select(root, settings.w_exp)`) on a hand-built tree."""
    from sqlforge.search.mcts import Node, select

    root = Node(prefix="", expanded=True, visits=10)
    root.children = [Node(prefix="a", parent=root, visits=5, q=50.0), Node(prefix="b", parent=root, visits=1, q=45.0)]
    default, changed = repo_params().mcts.w_exp, repo_params({"mcts": {"w_exp": 0.0}}).mcts.w_exp
    # 100: the rarely visited b (45 + 100 sqrt(ln 10)); 0: pure exploitation, a's higher Q
    assert select(root, default)[-1].prefix == "b" and select(root, changed)[-1].prefix == "a"


def test_mcts_selector_changes_the_chosen_candidate():
    from sqlforge.search.mcts import choose

    # SQL-o1's best path (no execution filter) vs the most visited candidate that runs
    cands = [{"sql": "x", "visits": 1, "q": 90.0, "reward": 99.0, "path_reward": 95.0, "exec_status": "syntax"},
             {"sql": "y", "visits": 4, "q": 10.0, "reward": 80.0, "path_reward": 50.0, "exec_status": "ok"}]
    default, changed = repo_params().mcts.selector, repo_params({"mcts": {"selector": "most_visited"}}).mcts.selector
    assert choose(cands, default)["sql"] == "x" and choose(cands, changed)["sql"] == "y"


# Keys the stage script itself applies (which questions, the sandbox's timeout, the Search's prompt mode):
# run mcts-explore's main in this process on two questions and look at the objects it built.

def load_stage(name: str):
    spec = importlib.util.spec_from_file_location(f"stage_{name}", REPO / "stages" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def mcts_stage_inputs(demo_records, tmp_path_factory):
    from sqlforge.io import dump_jsonl

    root = tmp_path_factory.mktemp("mcts_stage")
    dump_jsonl(root / "dev.jsonl", demo_records["dev"][:2])
    return root


def run_mcts_stage(overrides: dict, inputs, tiny_model, tmp_path, monkeypatch) -> dict:
    from conftest import write_params

    stage = load_stage("mcts_explore")
    built: dict = {"searches": [], "executors": []}

    class RecordedSearch(stage.Search):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            built["searches"].append(self)

    def recorded_executor(*a, **kw):
        executor = real_executor(*a, **kw)
        built["executors"].append(executor)
        return executor

    real_executor = stage.sandbox_executor
    monkeypatch.setattr(stage, "Search", RecordedSearch)
    monkeypatch.setattr(stage, "sandbox_executor", recorded_executor)
    base = {"mcts": {"iterations": 1, "expand_n": 1, "top_k": 1, "drop_truncated": False},
            "engine": {"max_new_tokens": 4}}
    merged = {**base, "mcts": {**base["mcts"], **overrides}}
    params = write_params(tmp_path / "params.yaml", merged)
    out = tmp_path / "out"
    monkeypatch.setattr(sys, "argv", ["mcts_explore", "--params", str(params), "--dev", str(inputs / "dev.jsonl"),
                                      "--model", str(tiny_model), "--rm", str(tmp_path / "no-rm"),  # not used
                                      "--out", str(out), "--metrics", str(tmp_path / "mcts.json")])
    stage.main()
    results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    return {"questions": len(results), "results": results, "timeout": [e.timeout_s for e in built["executors"]],
            "prompt": built["searches"][0].prompt("SELECT name FROM")}


MCTS_STAGE = {  # mcts key -> (new value, what the stage built)
    "max_questions": (1, "questions"),
    "timeout_s": (3.5, "timeout"),
    "prompt": ("continuation", "prompt"),
    "max_new_tokens": (2, "results"),  # an expansion's budget (0, the default, is engine.max_new_tokens: 4 here)
}


@pytest.mark.parametrize("key", sorted(MCTS_STAGE))
def test_each_mcts_stage_key_reaches_what_the_stage_builds(key, mcts_stage_inputs, tiny_model, tmp_path,
                                                          monkeypatch):
    value, seen = MCTS_STAGE[key]
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    default = run_mcts_stage({}, mcts_stage_inputs, tiny_model, tmp_path / "a", monkeypatch)
    changed = run_mcts_stage({key: value}, mcts_stage_inputs, tiny_model, tmp_path / "b", monkeypatch)
    assert default[seen] != changed[seen], f"mcts.{key}={value!r} did not reach the stage's {seen}"


# --- pairs: merge-shards' main on hand-built trees (test_search_trees.hand_tree) for 20 demo questions -----------

@pytest.fixture(scope="module")
def shard_trees(demo_records, tmp_path_factory):
    from test_search_trees import hand_tree

    from sqlforge.io import dump_jsonl
    from sqlforge.records import distance_to_json
    from sqlforge.search.trees import annotate

    root = tmp_path_factory.mktemp("pairs_stage")
    records = demo_records["train"][:20]
    dump_jsonl(root / "train.jsonl", records)
    trees = []
    for rec in records:
        tree = {**hand_tree(), "question_id": rec["id"], "db_id": rec["db_id"]}
        annotate(tree)
        for node in tree["nodes"]:
            node["distance"] = distance_to_json(node["distance"])
        trees.append(tree)
    (root / "trees" / "shard-0").mkdir(parents=True)
    dump_jsonl(root / "trees" / "shard-0" / "trees.jsonl", trees)
    # policy-samples' output: per question the gold (right) and three wrong SQLs, for the execution pairs
    dump_jsonl(root / "samples.jsonl", [{"id": rec["id"], "db_id": rec["db_id"], "samples": [
        {"sql": rec["gold"], "logprob": -1.0, "correct": True, "error_kind": "ok"},
        *({"sql": f"SELECT {k}", "logprob": -1.0 - k, "correct": False, "error_kind": "ok"} for k in range(3))]}
        for rec in records])
    return root


def run_merge_shards(overrides: dict, inputs, tmp_path, monkeypatch) -> dict:
    from conftest import write_params

    params = write_params(tmp_path / "params.yaml", {"tree": {"shards": [0]}, "pairs": overrides})
    monkeypatch.setattr(sys, "argv", ["merge_shards", "--params", str(params), "--trees", str(inputs / "trees"),
                                      "--train", str(inputs / "train.jsonl"), "--samples", str(inputs / "samples.jsonl"),
                                      "--out", str(tmp_path / "pairs"),
                                      "--metrics", str(tmp_path / "trees.json")])
    load_stage("merge_shards").main()
    return {name: sorted((p["question_id"], p["kind"], p["chosen"], p["rejected"]) for p in
                         map(json.loads, (tmp_path / "pairs" / f"{name}.jsonl").read_text().splitlines()))
            for name in ("train", "test")}


PAIRS = {  # pairs key -> new value (the observable: the train and test pairs merge-shards writes)
    "seed": 3,
    "test_fraction": 0.6,
    "kinds": ["emerge", "baseline"],  # the default adds execution
    "keep_failed_siblings": True,
    "execution_per_question": 1,  # with the execution kind (PAIRS_CONTEXT): 1 pair a question, not all 3
}
PAIRS_CONTEXT = {"execution_per_question": {"kinds": ["execution"]}}


@pytest.mark.parametrize("key", sorted(PAIRS))
def test_each_pairs_key_changes_the_pairs_merge_shards_writes(key, shard_trees, tmp_path, monkeypatch):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    context = PAIRS_CONTEXT.get(key, {})
    default = run_merge_shards(context, shard_trees, tmp_path / "a", monkeypatch)
    changed = run_merge_shards({**context, key: PAIRS[key]}, shard_trees, tmp_path / "b", monkeypatch)
    assert default["test"], "the default split must put some questions in test for seed to show"
    assert default != changed, f"pairs.{key}={PAIRS[key]!r} did not change the pairs"


# --- preprocess: its main on a small generated demo (30 train questions, 5 dev), in this process ---------

@pytest.fixture(scope="module")
def small_raw(tmp_path_factory):
    """A small demo raw folder, as fetch writes the demo."""
    from sqlforge.demo.generate import generate_demo

    raw = tmp_path_factory.mktemp("small_raw")
    generate_demo(raw, seed=0, train_questions=30, dev_questions=5, layout="in_domain", train_databases=4, dev_databases=2)
    return raw


def add_descriptions(raw) -> None:
    import sqlite3

    for db in sorted((raw / "database").iterdir()):
        with sqlite3.connect(db / f"{db.name}.sqlite") as con:
            tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            folder = db / "database_description"
            folder.mkdir(exist_ok=True)
            for table in tables:
                columns = [r[1] for r in con.execute(f'PRAGMA table_info("{table}")')]
                lines = ["original_column_name,column_description,value_description"]
                lines += [f"{c},the {c} of a {table} row (described),free text" for c in columns]
                (folder / f"{table}.csv").write_text("\n".join(lines) + "\n")


def run_preprocess(overrides: dict, raw, tiny_model, tmp_path, monkeypatch) -> dict:
    from conftest import write_params

    stage = load_stage("preprocess")
    built: dict = {"executors": []}
    real_executor = stage.sandbox_executor

    def recorded_executor(*a, **kw):
        executor = real_executor(*a, **kw)
        built["executors"].append(executor)
        return executor

    monkeypatch.setattr(stage, "sandbox_executor", recorded_executor)
    real_predictions = stage.base_model_predictions  # a spy: the real base-model pass of psg.mode hard
    monkeypatch.setattr(stage, "base_model_predictions",
                        lambda *a: built.setdefault("psg_predictions", real_predictions(*a)))
    params = write_params(tmp_path / "params.yaml", {"preprocess": overrides, "engine": {"max_new_tokens": 4}})
    out = tmp_path / "prepared"
    monkeypatch.setattr(sys, "argv", ["preprocess", "--params", str(params), "--raw", str(raw),
                                      "--base-model", str(tiny_model), "--out", str(out),
                                      "--metrics", str(tmp_path / "preprocess.json")])
    stage.main()
    read = lambda name: [json.loads(line) for line in (out / name).read_text().splitlines()]  # noqa: E731
    sft = read("sft.jsonl")
    rationales = out / "rationales.jsonl"
    return {"sft": [(s["id"], s["psg_prefix"], s["revision_of"], json.dumps(s["prompt"])) for s in sft],
            "completions": [json.dumps(s["completion"]) for s in sft],
            "rationales": rationales.read_text() if rationales.is_file() else "",
            "schemas": sorted({r["schema"] for r in read("train.jsonl") + read("dev.jsonl")}),
            "metrics": json.loads((tmp_path / "preprocess.json").read_text()),
            "executors": [(e.timeout_s, len(e._workers)) for e in built["executors"]],
            "psg_predictions": built.get("psg_predictions")}


def nest(key: str, value) -> dict:
    """"psg.mode", "hard" -> {"psg": {"mode": "hard"}}"""
    for part in reversed(key.split(".")):
        value = {part: value}
    return value


@pytest.fixture(scope="module")
def described_raw(tmp_path_factory):
    """The same small demo, every table's columns described in BIRD's database_description/*.csv."""
    from sqlforge.demo.generate import generate_demo

    raw = tmp_path_factory.mktemp("described_raw")
    generate_demo(raw, seed=0, train_questions=30, dev_questions=5, layout="in_domain", train_databases=4, dev_databases=2)
    add_descriptions(raw)
    return raw


TEACHER = {"reasoning": "teacher", "rationale": {"samples": 2, "max_new_tokens": 10}}
PREPROCESS = {  # preprocess key -> (new value, settings in both runs, raw folder, what preprocess produced)
    "seed": (7, {"psg": {"ratio": 0.5}}, "small_raw", "sft"),  # which questions get a cut, and where
    "sample_values": (2, {}, "small_raw", "schemas"),
    "descriptions": (False, {}, "described_raw", "schemas"),
    "max_schema_tokens": (80, {}, "small_raw", "schemas"),
    "gold_timeout_s": (5.0, {}, "small_raw", "executors"),  # the gold-check sandbox's timeout
    "workers": (1, {}, "small_raw", "executors"),  # its worker processes (and the dev judge's)
    "revision_ratio": (1.0, {}, "small_raw", "sft"),
    "psg.mode": ("none", {}, "small_raw", "sft"),
    "psg.ratio": (1.0, {}, "small_raw", "sft"),
    "psg.clauses": ("top_level", {"psg": {"mode": "all_prefixes", "ratio": 1.0}}, "small_raw", "sft"),
    "psg.keep_plain": (True, {}, "small_raw", "sft"),
    # the tiny model's predictions never run, so every question with a cut point is hard
    "psg.hard_mix": ("replace", {"psg": {"mode": "hard"}}, "small_raw", "sft"),
    "reasoning": ("templated", {}, "small_raw", "completions"),
    # psg.mode hard: the base model's predictions (0, the default, is engine.max_new_tokens: 4 here)
    "psg.max_new_tokens": (2, {"psg": {"mode": "hard"}}, "small_raw", "psg_predictions"),
    # the teacher (the tiny model here) writes rationales.jsonl: every reply, its SQL and verdict
    "rationale.samples": (3, TEACHER, "small_raw", "rationales"),
    "rationale.temperature": (3.0, TEACHER, "small_raw", "rationales"),
    "rationale.max_new_tokens": (5, TEACHER, "small_raw", "rationales"),
    "rationale.seed": (4, TEACHER, "small_raw", "rationales"),
}


@pytest.mark.parametrize("key", sorted(PREPROCESS))
def test_each_preprocess_key_changes_what_preprocess_writes(key, request, tiny_model, tmp_path, monkeypatch):
    from sqlforge.config import deep_merge

    value, both, raw, seen = PREPROCESS[key]
    raw = request.getfixturevalue(raw)
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    default = run_preprocess(both, raw, tiny_model, tmp_path / "a", monkeypatch)
    changed = run_preprocess(deep_merge(both, nest(key, value)), raw, tiny_model, tmp_path / "b", monkeypatch)
    assert default[seen] != changed[seen], f"preprocess.{key}={value!r} did not change preprocess's {seen}"


# psg.min_tables and psg.hard_rule act only in psg.mode: hard, on the base model's predictions; the tiny
# model's predictions never run (every one is an exec_error under both rules), so these two are shown on
# the function preprocess calls with them, hard_reasons, with predictions chosen by hand

def hard_reason(overrides: dict, record: dict, prediction: str) -> str:
    from sqlforge.official.judge import rules_for
    from sqlforge.data.psg import hard_reasons
    from sqlforge.sandbox.executor import sandbox_executor

    params = repo_params({"preprocess": {"psg": {"mode": "hard", **overrides}}})
    cfg = params.preprocess
    with sandbox_executor(params.sandbox, cfg.gold_timeout_s, cfg.workers) as executor:
        return hard_reasons([record], [prediction], executor, rules_for(params.data.dataset), cfg.psg.min_tables,
                            cfg.psg.hard_rule)[0]


def two_table_record(demo_records) -> dict:
    from sqlforge.data.psg import tables_touched

    return next(r for r in demo_records["train"] if tables_touched(r["gold"]) == 2)


def test_preprocess_psg_min_tables_sets_how_many_tables_make_a_prediction_hard(demo_records):
    record = two_table_record(demo_records)
    assert hard_reason({}, record, record["gold"]) == ""  # default 3 tables
    assert hard_reason({"min_tables": 2}, record, record["gold"]) == "many_tables"


def test_preprocess_psg_hard_rule_extended_also_counts_a_wrong_result(demo_records):
    from sqlforge.data.psg import tables_read

    record = two_table_record(demo_records)
    wrong = f"SELECT -12345 FROM {sorted(tables_read(record['gold']) or ())[0]}"
    assert hard_reason({}, record, wrong) == ""  # original: runs, reads one table
    assert hard_reason({"hard_rule": "extended"}, record, wrong) == "wrong"


# --- data and model: fetch's main, in this process, on the demo and on Spider-format folders (real_formats) ---

SMALL_DEMO = {"demo": {"train_questions": 40, "dev_questions": 10, "train_databases": 6, "dev_databases": 2}}
SMALL_TINY = {"vocab_size": 600, "hidden_size": 32, "num_layers": 1, "num_heads": 2, "num_kv_heads": 1,
              "intermediate_size": 64, "max_position_embeddings": 256}


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, str]:
    """Spider sources: the folder, the same as a zip, one with a train question less, one missing a database."""
    from real_formats import make_spider, zip_folder

    root = tmp_path_factory.mktemp("sources")
    spider = make_spider(root / "spider")
    fewer = make_spider(root / "fewer")
    train = json.loads((fewer / "train_spider.json").read_text())
    (fewer / "train_spider.json").write_text(json.dumps(train[:-1]))
    missing = make_spider(root / "missing")
    (missing / "database" / "pets_1" / "pets_1.sqlite").unlink()
    return {"spider": str(spider), "zip": str(zip_folder(spider, root / "spider.zip")), "fewer": str(fewer),
            "missing": str(missing)}


def run_fetch(overrides: dict, tmp_path, monkeypatch) -> dict:
    """fetch's main: what it put in data/raw (every split's questions) and models/base, or its InputError."""
    from conftest import write_params

    from sqlforge.io import InputError

    stage = load_stage("fetch")
    params = write_params(tmp_path / "params.yaml", overrides)
    raw, base = tmp_path / "raw", tmp_path / "base"
    monkeypatch.setattr(sys, "argv", ["fetch", "--params", str(params), "--data-out", str(raw),
                                      "--model-out", str(base), "--metrics", str(tmp_path / "fetch.json")])
    try:
        stage.main()
    except InputError as e:
        return {"refused": str(e).splitlines()[0].replace(str(tmp_path), "<tmp>")}
    loaded = stage.load_splits(stage.load_params(params), raw)
    files = sorted(p.name for p in base.iterdir())
    config = json.loads((base / "config.json").read_text()) if "config.json" in files else {}
    weights = None
    if "model.safetensors" in files:
        from safetensors.numpy import load_file

        weights = float(load_file(base / "model.safetensors")["model.embed_tokens.weight"][:4, :4].sum())
    return {"refused": None,
            "questions": {name: [(ex.id, ex.db_id, ex.question) for ex in s.examples] for name, s in loaded.items()},
            "base": files, "config": config, "weights": weights}


def spider_both(sources, name="spider"):
    return {"dataset": "spider", "source": sources[name]}


DATA = {  # data key -> (new value, data settings in both runs, what fetch produced)
    "dataset": ("spider", lambda s: {"source": s["spider"]}, "questions"),
    "source": (lambda s: s["fewer"], lambda s: spider_both(s), "questions"),
    "sha256": ("0" * 64, lambda s: spider_both(s), "refused"),  # a wrong pin stops fetch
    "dev_split": ("spider-dk", lambda s: spider_both(s), "questions"),
    "skip_missing_databases": (True, lambda s: spider_both(s, "missing"), "refused"),
    "max_uncompressed_bytes": (1000, lambda s: spider_both(s, "zip"), "refused"),
    "demo.seed": (1, lambda s: {}, "questions"),
    "demo.train_questions": (20, lambda s: {}, "questions"),
    "demo.dev_questions": (5, lambda s: {}, "questions"),
    "demo.layout": ("cross_database", lambda s: {}, "questions"),
    "demo.train_databases": (3, lambda s: {"demo": {"layout": "cross_database"}}, "questions"),
    "demo.dev_databases": (3, lambda s: {"demo": {"layout": "cross_database"}}, "questions"),
}


@pytest.mark.parametrize("key", sorted(DATA))
def test_each_data_key_changes_what_fetch_loads_or_refuses(key, sources, tmp_path, monkeypatch):
    from sqlforge.config import deep_merge

    value, both, seen = DATA[key]
    value = value(sources) if callable(value) else value
    data = deep_merge(SMALL_DEMO, both(sources))
    model = {"tiny": SMALL_TINY}
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    default = run_fetch({"data": data, "model": model}, tmp_path / "a", monkeypatch)
    changed = run_fetch({"data": deep_merge(data, nest(key, value)), "model": model}, tmp_path / "b", monkeypatch)
    assert default["refused"] is None or seen == "refused", default["refused"]
    assert default[seen] != changed[seen], f"data.{key}={value!r} did not change fetch's {seen}"


MODEL = {  # model key -> (new value, what fetch wrote to models/base)
    "base": ("Qwen/Qwen2.5-Coder-1.5B-Instruct", "base"),  # a hub id: a pointer instead of a built model
    "tiny.seed": (1, "weights"),
    "tiny.vocab_size": (500, "config"),
    "tiny.hidden_size": (16, "config"),
    "tiny.num_layers": (2, "config"),
    "tiny.num_heads": (4, "config"),
    "tiny.num_kv_heads": (2, "config"),
    "tiny.intermediate_size": (48, "config"),
    "tiny.max_position_embeddings": (512, "config"),
}


@pytest.mark.parametrize("key", sorted(MODEL))
def test_each_model_key_changes_the_base_model_fetch_writes(key, tmp_path, monkeypatch):
    from sqlforge.config import deep_merge

    value, seen = MODEL[key]
    model = {"tiny": SMALL_TINY}
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    default = run_fetch({"data": SMALL_DEMO, "model": model}, tmp_path / "a", monkeypatch)
    changed = run_fetch({"data": SMALL_DEMO, "model": deep_merge(model, nest(key, value))}, tmp_path / "b",
                        monkeypatch)
    assert default[seen] != changed[seen], f"model.{key}={value!r} did not change fetch's {seen}"


# --- sft and rm keys the trainer tables of test_params_reach.py leave out: they act in the stage scripts ---
# (which examples, the launcher command, which backbone, the margin column). Each stage's main runs in this
# process up to the trainer it builds (the real one, from the real build function), then stops before
# training; a launcher's command is the one sqlforge.train.launch builds from what the stage passes it.

class BuiltTrainer(Exception):
    def __init__(self, trainer, base):
        self.trainer, self.base = trainer, base


def stop_at_trainer(stage, name: str, monkeypatch) -> None:
    build = getattr(stage, name)

    def build_then_stop(cfg, dataset, base, *a, **kw):
        raise BuiltTrainer(build(cfg, dataset, base, *a, **kw), base)

    monkeypatch.setattr(stage, name, build_then_stop)


@pytest.fixture(scope="module")
def sft_file(demo_records, tmp_path_factory):
    from sqlforge.io import dump_jsonl
    from sqlforge.records import inference_messages

    path = tmp_path_factory.mktemp("sft_data") / "sft.jsonl"
    dump_jsonl(path, [{"id": r["id"], "psg_prefix": "", "revision_of": "", "prompt": inference_messages(r),
                       "completion": [{"role": "assistant", "content": r["gold"]}]}
                      for r in demo_records["train"][:8]])
    return path


def run_sft_stage(overrides: dict, sft_file, tiny_model, tmp_path, monkeypatch) -> dict:
    from conftest import write_params

    from sqlforge.train.launch import launch_command

    stage = load_stage("sft")
    stop_at_trainer(stage, "build_trainer", monkeypatch)
    commands = []
    monkeypatch.setattr(stage, "relaunch", lambda *a: commands.append(launch_command(*a)) or 0)
    params = write_params(tmp_path / "params.yaml",
                          {"sft": {"lora_r": 4, "lora_alpha": 8, "max_steps": 1, **overrides}})
    monkeypatch.setattr(sys, "argv", ["sft", "--params", str(params), "--data", str(sft_file), "--base-model",
                                      str(tiny_model), "--out", str(tmp_path / "sft"), "--live",
                                      str(tmp_path / "live"), "--metrics", str(tmp_path / "sft.json")])
    try:
        stage.main()
    except BuiltTrainer as built:
        return {"examples": len(built.trainer.train_dataset), "launch": None}
    except SystemExit as e:  # relaunched: this process only waits for the launched ones
        assert e.code == 0
        command = commands[0]
        port = command.index("--main_process_port")  # free-picked per launch: left out of the comparison
        return {"examples": None, "launch": command[:port] + command[port + 2:]}
    raise AssertionError("sft neither built a trainer nor relaunched")


SFT_STAGE = {  # sft key -> (new value, settings in both runs, what the stage built)
    "max_examples": (3, {}, "examples"),
    "launcher": ("ddp", {}, "launch"),
    "num_processes": (2, {"launcher": "ddp"}, "launch"),  # GPU-only in practice: the command it launches
}


@pytest.mark.parametrize("key", sorted(SFT_STAGE))
def test_each_sft_stage_key_reaches_the_trainer_or_launcher(key, sft_file, tiny_model, tmp_path, monkeypatch):
    value, both, seen = SFT_STAGE[key]
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    default = run_sft_stage(both, sft_file, tiny_model, tmp_path / "a", monkeypatch)
    changed = run_sft_stage({**both, key: value}, sft_file, tiny_model, tmp_path / "b", monkeypatch)
    assert default[seen] != changed[seen], f"sft.{key}={value!r} did not reach the stage's {seen}"


CLUSTER = {  # cluster key -> (new value, settings in both runs): each changes the command sft launches
    "num_machines": (2, {"main_process_ip": "10.0.0.1", "main_process_port": 29500}),
    "machine_rank": (1, {"num_machines": 2, "main_process_ip": "10.0.0.1", "main_process_port": 29500}),
    "main_process_ip": ("10.0.0.2", {"num_machines": 2, "main_process_ip": "10.0.0.1", "main_process_port": 29500}),
    "main_process_port": (29501, {"num_machines": 2, "main_process_ip": "10.0.0.1", "main_process_port": 29500}),
}


def launched_command(stage_name: str, section: str, params: dict, argv: list[str], tmp_path, monkeypatch) -> list:
    """The accelerate command a training stage launches under `params` (the real launch_command; not run)."""
    from conftest import write_params

    from sqlforge.train.launch import launch_command

    stage = load_stage(stage_name)
    commands = []
    monkeypatch.setattr(stage, "relaunch", lambda *a: commands.append(launch_command(*a)) or 0)
    path = write_params(tmp_path / "params.yaml", params)
    monkeypatch.setattr(sys, "argv", [stage_name, "--params", str(path), *argv])
    with pytest.raises(SystemExit) as done:
        stage.main()
    assert done.value.code == 0 and len(commands) == 1
    return commands[0]


@pytest.mark.parametrize("key", sorted(CLUSTER))
def test_each_cluster_key_reaches_the_launch_command(key, sft_file, tiny_model, tmp_path, monkeypatch):
    value, both = CLUSTER[key]
    argv = ["--data", str(sft_file), "--base-model", str(tiny_model), "--out", str(tmp_path / "sft"), "--live",
            str(tmp_path / "live"), "--metrics", str(tmp_path / "sft.json")]
    sft = {"launcher": "ddp", "num_processes": 2}
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    default = launched_command("sft", "sft", {"sft": sft, "cluster": both}, argv, tmp_path / "a", monkeypatch)
    changed = launched_command("sft", "sft", {"sft": sft, "cluster": {**both, key: value}}, argv, tmp_path / "b",
                               monkeypatch)
    assert default != changed, f"cluster.{key}={value!r} did not reach the launch command"
    if key == "num_machines":  # accelerate counts the processes of all machines
        assert changed[changed.index("--num_processes") + 1] == "4" and "--machine_rank" in changed


@pytest.mark.parametrize("key,value", [("launcher", "ddp"), ("num_processes", 3)])
def test_rm_launcher_keys_make_train_rm_relaunch_itself(key, value, pairs_file, tiny_model, tmp_path, monkeypatch):
    """rm.launcher re-runs train-rm under accelerate (as sft.launcher does sft); rm.num_processes sets how many."""
    argv = ["--pairs", str(pairs_file), "--sft-model", str(tiny_model), "--out", str(tmp_path / "rm"), "--live",
            str(tmp_path / "live"), "--metrics", str(tmp_path / "rm.json")]
    both = {"launcher": "ddp"} if key == "num_processes" else {}
    changed = launched_command("train_rm", "rm", {"rm": {**both, key: value}}, argv, tmp_path, monkeypatch)
    assert changed[changed.index("--num_processes") + 1] == str(value if key == "num_processes" else 1)
    assert changed[changed.index("--config_file") + 1].endswith("ddp.yaml")
    assert changed[-len(argv):] == argv and changed[-len(argv) - 3].endswith("train_rm.py")
    if key == "launcher":  # the default (none) trains in this process: it builds the trainer, launches nothing
        (tmp_path / "plain").mkdir()
        default = run_train_rm_stage({}, pairs_file, tiny_model, tmp_path / "plain", monkeypatch)
        assert default["backbone"]


@pytest.fixture(scope="module")
def pairs_file(demo_records, tmp_path_factory):
    from sqlforge.io import dump_jsonl
    from sqlforge.records import inference_messages

    path = tmp_path_factory.mktemp("rm_pairs") / "train.jsonl"
    dump_jsonl(path, [{"id": f"{r['id']}-0", "question_id": r["id"], "db_id": r["db_id"],
                       "prompt": inference_messages(r), "chosen": r["gold"], "rejected": "SELECT 1",
                       "chosen_distance": 0, "rejected_distance": 1, "kind": "emerge"}
                      for r in demo_records["train"][:4]])
    return path


@pytest.fixture(scope="module")
def other_backbone(tiny_model, tmp_path_factory):
    """The same tiny model under another path: a backbone other than the SFT model."""
    import shutil

    return shutil.copytree(tiny_model, tmp_path_factory.mktemp("backbone") / "model")


def run_train_rm_stage(overrides: dict, pairs_file, tiny_model, tmp_path, monkeypatch) -> dict:
    from conftest import write_params

    stage = load_stage("train_rm")
    stop_at_trainer(stage, "build_reward_trainer", monkeypatch)
    params = write_params(tmp_path / "params.yaml", {"rm": overrides})
    monkeypatch.setattr(sys, "argv", ["train_rm", "--params", str(params), "--pairs", str(pairs_file),
                                      "--sft-model", str(tiny_model), "--out", str(tmp_path / "rm"), "--live",
                                      str(tmp_path / "live"), "--metrics", str(tmp_path / "rm.json")])
    with pytest.raises(BuiltTrainer) as built:
        stage.main()
    trainer = built.value.trainer
    return {"backbone": trainer.model.base_model.model.config._name_or_path,
            "margins": trainer.train_dataset["margin"] if "margin" in trainer.train_dataset.column_names else None}


RM_STAGE = {"base": "backbone", "margin_scale": "margins"}  # rm key -> what the stage's reward trainer shows


@pytest.mark.parametrize("key", sorted(RM_STAGE))
def test_each_rm_stage_key_reaches_the_reward_trainer(key, pairs_file, other_backbone, tiny_model, tmp_path,
                                                     monkeypatch):
    value, seen = {"base": str(other_backbone), "margin_scale": 0.5}[key], RM_STAGE[key]
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    default = run_train_rm_stage({}, pairs_file, tiny_model, tmp_path / "a", monkeypatch)
    changed = run_train_rm_stage({key: value}, pairs_file, tiny_model, tmp_path / "b", monkeypatch)
    assert default[seen] != changed[seen], f"rm.{key}={value!r} did not reach the reward trainer's {seen}"
