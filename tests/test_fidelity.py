"""Fidelity to the reference code (docs/fidelity.md): each test pins one rule of SQL-o1
(ShuaiLyu0110/SQL-o1 at e5b85c3) or ReSQLver (oGYCo/ReSQLver at bbb299f) on a small hand-built
search state or tree whose expected outcome is worked out by hand in the comments."""

import json
import math
import subprocess
import sys

import pytest

from sqlforge.clauses import TOP_LEVEL, prefixes
from sqlforge.engine.base import Completion, Score
from sqlforge.search.mcts import MCTS, Node, Search, backup, candidates, choose, path_reward, select, uct
from sqlforge.data.psg import EXEC_ERROR, MANY_TABLES, NO_TABLES, hard_reasons, psg_prefixes
from sqlforge.prompts import feedback
from sqlforge.search.trees import annotate, extract_pairs

from conftest import REPO, repo_params, write_params, make_executor
from real_formats import make_spider


def child(parent: Node, prefix: str, intuition: float, goal: float = 0.0, terminal: bool = False,
          alpha: float = 0.4) -> Node:
    """A scored child as MCTS._expand leaves it (reward = alpha * intuition + (1 - alpha) * goal)."""
    node = Node(prefix=prefix, action=prefix, depth=parent.depth + 1, parent=parent, terminal=terminal,
                complete=terminal, expanded=terminal, intuition=intuition, goal=goal,
                reward=alpha * intuition + (1 - alpha) * goal)
    parent.children.append(node)
    parent.expanded = True
    return node


# ---------------------------------------------------------------- SQL-o1 MCTS (reasoners/algorithm/mcts.py)

def finishing_vs_continuing():
    """Root with two children: F ends the SQL (intuition 60, goal 95: reward 0.4*60 + 0.6*95 = 81) and N
    does not (intuition 70: reward 28); N's only child T ends it (intuition 90, goal 90: reward 90)."""
    root = Node(prefix="", expanded=True)
    f = child(root, "SELECT a FROM t", 60.0, goal=95.0, terminal=True)
    n = child(root, "SELECT a", 70.0)
    t = child(n, "SELECT a FROM u", 90.0, goal=90.0, terminal=True)
    return root, f, n, t


class HandEngine:
    """The policy's numbers written by hand, so a rule's outcome can be worked out on paper: `generate` returns
    the completions listed for a prompt, `score` the log p listed for (prompt, continuation). A request the
    rule should not make (a goal for SQL that did not end, a goal with the prefix in the slot) is not listed
    and fails the test. The real engines' generate and score are tested in test_engine.py."""

    def __init__(self, completions: dict, scores: dict):
        self.completions, self.scores, self.scored = completions, scores, []

    def generate(self, prompts, n=1, temperature=0.0, top_p=1.0, max_new_tokens=128, stop=(), seed=0):
        return [[Completion(text) for text in self.completions[p]] for p in prompts]

    def score(self, prompts, continuations):
        out = []
        for prompt, cont in zip(prompts, continuations):
            assert (prompt, cont) in self.scores, f"unexpected score request: {cont!r} after {prompt[-60:]!r}"
            self.scored.append((prompt, cont))
            out.append(Score(total=self.scores[(prompt, cont)], token_logprobs=[]))
        return out


def hand_search(tokenizer, record, settings, root: str):
    """A search built as mcts-explore builds it (prefix in the slot for mcts.prompt psg), rooted at `root`."""
    search = Search(record, tokenizer, settings.prompt == "psg")
    search.root = Node(prefix=root)
    return search


def test_rollout_and_unvisited_order_follow_intuition_not_reward(tiny_model, demo_records):
    """SQL-o1 _simulate picks the child with the highest fast_reward, which is the intuition alone. From
    "SELECT a": F = " FROM t" ends the SQL (intuition 100 - 40 = 60, goal 100 - 5 = 95: reward 0.4*60 + 0.6*95
    = 81), N = " FROM u" does not (intuition 70: reward 28); N's completion T = " WHERE x = 1" ends (90, 90).
    The root is expanded in the iteration itself, so the real rollout (not selection) picks between F and N:
    by intuition N, then T; by reward it would stop at F."""
    from sqlforge.engine.hf import TransformersEngine

    tok = TransformersEngine(str(tiny_model), batch_size=4).tokenizer
    settings = repo_params({"mcts": {"iterations": 1}}).mcts
    search = hand_search(tok, demo_records["dev"][0], settings, "SELECT a")
    end, p = tok.eos_token, search.prompt
    engine = HandEngine(
        {p("SELECT a"): [" FROM t", " FROM u WHERE x = 1"], p("SELECT a FROM u"): [" WHERE x = 1"]},
        {(p("SELECT a"), " FROM t" + end): -40.0, (p("SELECT a"), " FROM u"): -30.0,
         (search.base_prompt, "SELECT a FROM t" + end): -5.0,
         (p("SELECT a FROM u"), " WHERE x = 1" + end): -10.0,
         (search.base_prompt, "SELECT a FROM u WHERE x = 1" + end): -10.0})
    MCTS(engine, tok, settings, max_new_tokens=8).run([search])
    f, n = sorted(search.root.children, key=lambda c: c.prefix)
    assert (f.prefix, f.reward, n.prefix, n.reward) == ("SELECT a FROM t", pytest.approx(81.0), "SELECT a FROM u",
                                                         pytest.approx(28.0))
    (t,) = n.children
    assert (n.visits, t.visits, f.visits) == (1, 1, 0)
    assert search.root.visits == 1


def test_expand_scores_caps_keeps_top_k_by_intuition_and_rewards(tiny_model, demo_records):
    """SQL-o1 agent.py / llm_api.py, on one expansion of "SELECT a" with four completions (expand_n 4, top_k 3):
    intuition = min(99.99, 100 + log p(action [+ end] | prompt with the prefix in the slot));
    the top 3 by intuition are kept; goal = 100 + log p(full SQL + end | prompt with an empty slot), asked only
    for kept SQL that ended (else 0); reward = 0.4 * intuition + 0.6 * goal.
      W " FROM w"  ends  log p -50  intuition 50     dropped (4th by intuition, though first generated)
      U " FROM u"  goes on  -30       70      goal 0            reward 28
      T " FROM t"  ends     +0.5      99.99 (capped: 100.5)  goal 100 - 5 = 95   reward 39.996 + 57 = 96.996
      V " FROM v"  ends     -10       90      goal 100 - 20 = 80  reward 36 + 48 = 84"""
    from sqlforge.engine.hf import TransformersEngine

    tok = TransformersEngine(str(tiny_model), batch_size=4).tokenizer
    settings = repo_params({"mcts": {"expand_n": 4}}).mcts
    assert (settings.top_k, settings.alpha) == (3, 0.4)
    search = hand_search(tok, demo_records["dev"][0], settings, "SELECT a")
    end, p, base = tok.eos_token, search.prompt("SELECT a"), search.base_prompt
    engine = HandEngine({p: [" FROM w", " FROM u WHERE x = 1", " FROM t", " FROM v"]},
                        {(p, " FROM w" + end): -50.0, (p, " FROM u"): -30.0, (p, " FROM t" + end): 0.5,
                         (p, " FROM v" + end): -10.0, (base, "SELECT a FROM t" + end): -5.0,
                         (base, "SELECT a FROM v" + end): -20.0, (base, "SELECT a FROM w" + end): -1.0})
    MCTS(engine, tok, settings, max_new_tokens=8)._expand([(search, search.root)])
    got = [(c.prefix, c.intuition, c.goal, c.reward) for c in search.root.children]
    assert got == [("SELECT a FROM t", 99.99, 95.0, pytest.approx(96.996)),
                   ("SELECT a FROM v", 90.0, 80.0, pytest.approx(84.0)),
                   ("SELECT a FROM u", 70.0, 0.0, pytest.approx(28.0))]
    # the goal of the dropped W was never asked for, nor one for U (its SQL goes on)
    assert [c for pr, c in engine.scored if pr == base] == ["SELECT a FROM t" + end, "SELECT a FROM v" + end]
    # the prefix sits in the "incomplete SQL" slot and starts the reply (mcts.prompt: psg, SQL-o1); the goal's
    # prompt has the slot empty
    assert "Incomplete SQL: SELECT a" in p and p.endswith("SELECT a") and "Incomplete SQL: SELECT" not in base


def test_unvisited_uct_is_intuition_plus_exploration():
    """SQL-o1: Q of an unvisited node is its fast_reward (intuition); visits count as max(1, n)."""
    parent = Node(prefix="", expanded=True, visits=2)
    visited = child(parent, "a", 10.0)
    visited.visits, visited.q = 1, 90.0
    fresh = child(parent, "b", 20.0)
    w = 100.0
    assert uct(fresh, 2, w) == pytest.approx(20.0 + w * math.sqrt(math.log(2)))
    assert uct(visited, 2, w) == pytest.approx(90.0 + w * math.sqrt(math.log(2) / 1))
    # 173.3 beats 103.3: a visited child can win over an unvisited one (never with an infinite UCT)
    assert select(parent, w)[-1] is visited
    # with the parent visited once, ln 1 = 0: unvisited children are ordered by intuition alone
    parent.visits = 1
    visited.visits, visited.q = 0, -math.inf
    assert select(parent, w)[-1] is fresh


def test_backup_gives_each_node_the_mean_from_itself_to_the_leaf():
    """SQL-o1 _back_propagate with cum_reward=np.mean, calc_q=max, by hand on root -> a -> b -> c."""
    root = Node(prefix="")  # reward 0, as SQL-o1's root fast_reward
    a = Node(prefix="a", parent=root, reward=10.0)
    b = Node(prefix="a b", parent=a, reward=30.0)
    c = Node(prefix="a b c", parent=b, reward=50.0)
    backup([root, a, b, c])
    assert c.q == 50.0  # [50]
    assert b.q == 40.0  # [30, 50]
    assert a.q == 30.0  # [10, 30, 50]
    assert root.q == 22.5  # [0, 10, 30, 50]
    c.reward = 20.0
    backup([root, a, b, c])  # new means 20, 25, 20, 15: every Q keeps its max
    assert (c.q, b.q, a.q, root.q) == (50.0, 40.0, 30.0, 22.5)
    assert (root.visits, a.visits, b.visits, c.visits) == (2, 2, 2, 2)


def test_best_path_selector_takes_the_highest_mean_reward_path():
    """SQL-o1's output strategy max_reward: the visited terminal path with the highest mean reward
    (root excluded), without any execution filter; best_reward looks only at the last node."""
    root = Node(prefix="", expanded=True)
    a = child(root, "SELECT a", 90.0)  # reward 36
    a_end = child(a, "SELECT a FROM t", 50.0, goal=70.0, terminal=True)  # reward 62; path mean 49
    b_end = child(root, "SELECT b FROM t", 40.0, goal=85.0, terminal=True)  # reward 67; path mean 67
    c_end = child(root, "SELECT c FROM t", 95.0, goal=99.0, terminal=True)  # reward 97.4, never visited
    backup([root, a, a_end])
    backup([root, b_end])
    assert path_reward(a_end) == pytest.approx(49.0) and path_reward(b_end) == pytest.approx(67.0)
    cands = {c["sql"]: c for c in candidates(root)}
    assert cands["SELECT c FROM t"]["path_reward"] is None  # SQL-o1 only follows visited nodes
    assert choose(list(cands.values()), "best_path")["sql"] == "SELECT b FROM t"
    # the execution filter applies to the other selectors, not to SQL-o1's choice
    cands["SELECT b FROM t"]["exec_status"] = "runtime"
    cands["SELECT a FROM t"]["exec_status"] = "ok"
    assert choose(list(cands.values()), "best_path")["sql"] == "SELECT b FROM t"
    assert choose(list(cands.values()), "best_reward")["sql"] == "SELECT a FROM t"
    # no visited terminal path: SQL-o1's result_mcts_best is '' (an empty answer); best_path_or_reward, a
    # sqlforge option, takes the highest reward among the unvisited ones instead
    unvisited = [{**c, "path_reward": None, "visits": 0} for c in cands.values()]
    assert choose(unvisited, "best_path") is None
    assert choose(unvisited, "best_path_or_reward")["sql"] == "SELECT c FROM t"


def test_expansion_drops_truncated_completions_and_cuts_subquery_clauses():
    """SQL-o1 keeps only completions that end (contain ';') and segments the flattened token stream, so
    a subquery's SELECT is an action of its own; duplicate actions are merged."""
    mcts = MCTS(engine=None, tokenizer=None, settings=repo_params().mcts, max_new_tokens=8)
    node = Node(prefix="SELECT a FROM t WHERE b IN (", depth=3)
    comps = [Completion("SELECT c FROM u)", finish_reason="stop"),
             Completion("SELECT c FROM u WHERE d = 1)", finish_reason="stop"),  # same first clause
             Completion("SELECT e FROM v WHERE e > 1 AND e > 2 AND", finish_reason="length")]
    kids = mcts._children(node, comps)
    assert [k.prefix for k in kids] == ["SELECT a FROM t WHERE b IN (SELECT c"]
    assert not kids[0].terminal
    keep = MCTS(engine=None, tokenizer=None, settings=repo_params({"mcts": {"drop_truncated": False}}).mcts, max_new_tokens=8)
    assert len(keep._children(node, comps)) == 2
    # top_level segmentation (sqlforge's earlier rule) takes the whole subquery as one action
    flat = MCTS(engine=None, tokenizer=None, settings=repo_params({"mcts": {"clauses": TOP_LEVEL}}).mcts, max_new_tokens=8)
    top = flat._children(Node(prefix="SELECT a FROM t"), [Completion(" WHERE b IN (SELECT c FROM u)")])
    assert [k.action for k in top] == [" WHERE b IN (SELECT c FROM u)"] and top[0].terminal and top[0].complete
    # the depth limit ends a path without completing its SQL (no goal reward)
    deep = MCTS(engine=None, tokenizer=None, settings=repo_params({"mcts": {"max_depth": 4}}).mcts, max_new_tokens=8)
    (last,) = deep._children(node, comps[:1])
    assert last.terminal and not last.complete


def test_sql_o1_settings_are_the_mcts_defaults():
    """_run_explore.py: 8 iterations, depth 20, w 100, top-k 3, alpha 0.4; llm_api.py: 3 sampled beams;
    its server's sampling: temperature 0.9, top_p 0.7. (params.yaml holds the defaults.)"""
    s = repo_params().mcts
    assert (s.iterations, s.max_depth, s.w_exp, s.top_k, s.alpha, s.expand_n) == (8, 20, 100.0, 3, 0.4, 3)
    assert (s.expansion, s.temperature, s.top_p, s.clauses, s.drop_truncated, s.selector, s.prompt) == (
        "samples", 0.9, 0.7, "nested", True, "best_path", "psg")


# ---------------------------------------------------------------- SQL-o1 PSG (preprocess_data.py, data_process.py)

def test_psg_original_hard_rule_looks_at_the_prediction_only(tmp_path):
    """SQL-o1: hard = the base model's prediction fails to execute or names 3+ tables, or none (its count's
    else branch); a wrong but running prediction over one table is not hard, and the gold's tables do not
    count."""
    spider = make_spider(tmp_path / "spider")
    db = str(spider / "database" / "concert_singer" / "concert_singer.sqlite")
    join3 = ("SELECT T1.name FROM singer AS T1 JOIN singer_in_concert AS T2 ON T1.singer_id = T2.singer_id "
             "JOIN concert AS T3 ON T2.concert_id = T3.concert_id WHERE T3.year = 2014")
    records = [{"db_path": db, "gold": "SELECT count(*) FROM singer"}] * 4 + [{"db_path": db, "gold": join3}]
    predictions = ["SELECT count(*) FROM concert WHERE year = 2015",  # runs, wrong rows: not hard here
                   "SELECT count(*) FROM singers",  # fails
                   join3,  # reads three tables (the gold reads one)
                   "SELECT 3",  # the right count, but it reads no table
                   "SELECT name FROM singer"]  # the gold joins three tables, the prediction reads one
    with make_executor(timeout_s=5) as executor:
        assert hard_reasons(records, predictions, executor, "spider", 3) == [
            "", EXEC_ERROR, MANY_TABLES, NO_TABLES, ""]
        assert hard_reasons(records, predictions, executor, "spider", 3, rule="extended")[4] != ""


def test_psg_cut_points_include_subquery_clauses():
    """SQL-o1's truncation searches the clause keywords anywhere in the SQL, subqueries included."""
    sql = "SELECT name FROM t WHERE id IN (SELECT tid FROM u)"
    assert prefixes(sql) == ["SELECT name", "SELECT name FROM t", "SELECT name FROM t WHERE id IN (",
                             "SELECT name FROM t WHERE id IN (SELECT tid"]
    assert prefixes(sql, TOP_LEVEL) == ["SELECT name", "SELECT name FROM t"]
    import random
    # hard mode: one cut per hard example whatever the ratio, drawn among every cut point (subquery ones too),
    # none for an example that is not hard
    drawn = [psg_prefixes(sql, "hard", 0.0, random.Random(seed), hard=True) for seed in range(60)]
    assert all(len(d) == 1 for d in drawn) and {d[0] for d in drawn} == set(prefixes(sql))
    assert psg_prefixes(sql, "hard", 1.0, random.Random(0), hard=False) == []


# ---------------------------------------------------------------- ReSQLver (tree_builder.py, dpo_extractor.py)

def node(i, parent, depth, sql, correct):
    return {"id": i, "parent": parent, "depth": depth, "sql": sql, "correct": correct, "error_kind": "ok"}


def three_level_tree():
    """R1 (wrong) -> S1 (wrong) -> T1 (correct), S2 (wrong, dead end); R1 -> S3 (correct); R2 (wrong, dead
    end); S1 -> T2 (wrong, dead end at the last level); R3 (wrong) -> S4 "" (empty SQL) -> T3 (correct).
    Distances: T1 0, S3 0, T3 0, S1 1, S4 1, R1 1, R3 2; S2, R2, T2 unreachable."""
    return {"question_id": "q", "db_id": "db", "nodes": [
        node(0, -1, 0, "R1", False), node(1, -1, 0, "R2", False), node(2, -1, 0, "R3", False),
        node(3, 0, 1, "S1", False), node(4, 0, 1, "S2", False), node(5, 0, 1, "S3", True),
        node(6, 2, 1, "", False),
        node(7, 3, 2, "T1", True), node(8, 3, 2, "T2", False), node(9, 6, 2, "T3", True)]}


def test_pruning_keeps_only_paths_to_a_correct_node():
    tree = three_level_tree()
    annotate(tree)
    dist = {n["id"]: n["distance"] for n in tree["nodes"]}
    assert dist == {0: 1, 1: math.inf, 2: 2, 3: 1, 4: math.inf, 5: 0, 6: 1, 7: 0, 8: math.inf, 9: 0}
    assert {n["sql"] for n in tree["nodes"] if n["kept"]} == {"R1", "R3", "S1", "S3", "", "T1", "T3"}


def test_emerge_and_baseline_pairs_match_the_original_by_hand():
    """dpo_extractor.py: for each kept node, every two of {node, parent, children, siblings} with different
    distances (smaller chosen), empty SQL skipped; baseline = deepest correct x shallowest wrong kept nodes.
    Worked out on the pruned tree {R1, R3 | S1, S3 under R1; "" under R3 | T1 under S1; T3 under ""}:
      R1's set {R1, R3, S1, S3}: R1>R3, S1>R3, S3>R3, S3>R1, S3>S1 (R1-S1 tie at 1)
      R3's set {R1, R3, ""}: only pairs with "" (skipped) besides R1>R3 (already)
      S1's set {S1, R1, T1, S3}: T1>S1, T1>R1 (grandparent), T1 vs S3 tie, S3>S1 (already)
      S3's set {S3, R1, S1}: nothing new; ""'s set {"", R3, T3}: T3>R3 (grandparent); T1's, T3's: nothing new
    baseline: deepest correct T1, T3 (depth 2) x shallowest wrong R1, R3 (depth 0)."""
    tree = three_level_tree()
    annotate(tree)
    pairs = extract_pairs(tree, [{"role": "user", "content": "q"}], ["emerge", "baseline"])
    got = sorted((p["kind"], p["chosen"], p["rejected"]) for p in pairs)
    assert got == sorted([
        ("emerge", "R1", "R3"), ("emerge", "S1", "R3"), ("emerge", "S3", "R3"), ("emerge", "S3", "R1"),
        ("emerge", "S3", "S1"), ("emerge", "T1", "S1"), ("emerge", "T1", "R1"), ("emerge", "T3", "R3"),
        ("baseline", "T1", "R1"), ("baseline", "T1", "R3"), ("baseline", "T3", "R1"), ("baseline", "T3", "R3")])
    assert all(p["chosen"] and p["rejected"] for p in pairs)  # empty SQL never in a pair


def test_tree_levels_count_generations_and_the_last_level_is_not_revised(tiny_model, demo_records):
    """tree_builder.py: depth runs 1..max_depth, wrong nodes of the last level get no revision prompt.
    The untrained tiny model answers wrongly, so every level below the last is revised."""
    from sqlforge.engine.hf import TransformersEngine
    from sqlforge.search.trees import TreeSettings, build_trees

    engine = TransformersEngine(str(tiny_model), batch_size=8)
    settings = TreeSettings(branching=2, max_depth=2, temperature=0.7, top_p=1.0, max_new_tokens=12, seed=0, gold_timeout_s=60.0,
                            t_min=10.0, k=1.2, c=5.0)
    with make_executor() as executor:
        trees = build_trees(demo_records["train"][:2], engine, engine.tokenizer, executor, settings)
    for tree in trees:
        depths = sorted(n["depth"] for n in tree["nodes"])
        wrong_roots = sum(1 for n in tree["nodes"] if n["depth"] == 0 and not n["correct"])
        assert max(depths) == 1 if wrong_roots else max(depths) == 0
        assert depths.count(1) == 2 * wrong_roots  # two revisions per wrong root, none of the second level


def test_feedback_shows_columns_counts_and_samples(tmp_path):
    """sql_utils.py: column counts with names, row counts, missing/unexpected samples, and the first
    rows of the expected and the actual result."""
    spider = make_spider(tmp_path / "spider")
    db = str(spider / "database" / "concert_singer" / "concert_singer.sqlite")
    with make_executor(timeout_s=5) as executor:
        gold = executor.execute(db, "SELECT name, country FROM singer ORDER BY name LIMIT 2")
        wrong = executor.execute(db, "SELECT name FROM singer ORDER BY name LIMIT 3")
        failed = executor.execute(db, "SELECT nope FROM singer")
    text = feedback(wrong, gold)
    assert "1 columns (name)" in text and "2 columns (name, country)" in text
    assert "3 rows" in text and "2 rows" in text
    assert f"Expected result, first rows: {'; '.join(str(r) for r in gold.rows)}" in text
    assert f"Actual result, first rows: {str(wrong.rows[0])}" in text
    assert "Missing rows" in text and "Unexpected rows" in text
    assert feedback(failed, gold).startswith("The query failed (")


# ---------------------------------------------------------------- ReSQLver reward model (train.py)

def test_train_rm_reports_pairs_dropped_for_length(tmp_path, tiny_model):
    """trl 1.16 RewardTrainer drops pairs longer than max_length; train-rm counts what it trained on.
    With rm.margin_scale > 0 (the default is 0, which the smoke pipeline runs) it trains on trl's margin column."""
    prompt = [{"role": "user", "content": "how many singers?"}]
    short = {"id": "p", "question_id": "q", "db_id": "concert_singer", "prompt": prompt,
             "chosen": "SELECT count(*) FROM singer", "rejected": "SELECT 1",
             "chosen_distance": 0, "rejected_distance": 1, "kind": "emerge"}
    long = {**short, "rejected": "SELECT " + ", ".join(f"c{i}" for i in range(200)) + " FROM singer"}
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps(p) + "\n" for p in [short, long, short, long, short]))
    params = tmp_path / "params.yaml"
    write_params(params, {"rm": {"max_steps": 1, "batch_size": 2, "max_length": 64, "margin_scale": 0.5}})
    proc = subprocess.run([sys.executable, str(REPO / "stages" / "train_rm.py"), "--params", str(params),
                           "--pairs", str(pairs), "--sft-model", str(tiny_model), "--out", str(tmp_path / "rm"),
                           "--live", str(tmp_path / "live"), "--metrics", str(tmp_path / "train_rm.json")],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((tmp_path / "train_rm.json").read_text())
    assert (metrics["pairs"], metrics["pairs_trained"], metrics["pairs_dropped_too_long"]) == (5, 3, 2)


# ---------------------------------------------------------------- the GPU profiles run the references

GPU_PROFILES = sorted(p for p in (REPO / "profiles").glob("*.yaml") if p.name != "smoke.yaml")


@pytest.mark.parametrize("profile", GPU_PROFILES, ids=lambda p: p.name)
def test_gpu_profiles_use_the_reference_settings(profile):
    """docs/fidelity.md: every GPU profile (params.yaml merged with it) runs SQL-o1's PSG and MCTS and
    ReSQLver's trees, pairs and reward model, whatever the CPU demo's defaults are."""
    from sqlforge.config import params_from_dict
    from sqlforge.profiles import apply_profile

    p = params_from_dict(apply_profile(profile, REPO / "params.yaml", check_only=True), profile.name)
    psg = p.preprocess.psg  # preprocess_data.py --PSG: hard examples, its rule, a file beside the plain data
    # the llama-cookbook profile trains on the cookbook's own data: rationales, no PSG (docs/fidelity.md)
    expected_mode = "none" if p.preprocess.reasoning != "none" else "hard"
    assert (psg.mode, psg.hard_rule, psg.min_tables, psg.hard_mix, psg.clauses) == (
        expected_mode, "original", 3, "add", "nested")
    t = p.tree  # tree/run.sh: Qwen2.5-Coder-3B-Instruct, --max_depth 5 --sample_num 2; run_pipeline.py: 0.7
    assert (t.generator, t.max_depth, t.branching, t.temperature, t.top_p) == (
        "Qwen/Qwen2.5-Coder-3B-Instruct", 5, 2, 0.7, 1.0)
    assert (t.timeout.t_min, t.timeout.k, t.timeout.c) == (10.0, 1.2, 5.0)  # sql_utils.py: max(10, 1.2 t + 5)
    assert p.pairs.keep_failed_siblings is False and p.pairs.kinds == ["emerge", "baseline"]
    rl = p.rl  # Arctic-Text2SQL-R1: GRPO, 16 rollouts at 0.8, KL 0.001, clip 0.2, reward 1 / 0.1 / 0; vLLM rollouts
    assert (rl.method, rl.group_size, rl.temperature, rl.beta, rl.epsilon, rl.use_vllm) == (
        "grpo", 16, 0.8, 0.001, 0.2, True)
    assert (rl.reward.correct, rl.reward.runs, rl.reward.fails) == (1.0, 0.1, 0.0)
    rm = p.rm  # train.py: a 1.5B instruct backbone, lr 5e-6, 16 x 2 per step, one epoch, wd 0.01, 4096 tokens
    assert (rm.base, rm.learning_rate, rm.batch_size * rm.grad_accum, rm.epochs, rm.max_steps, rm.weight_decay,
            rm.max_length, rm.center_rewards_coefficient, rm.margin_scale) == (
        "Qwen/Qwen2.5-Coder-1.5B-Instruct", 5e-6, 32, 1.0, -1, 0.01, 4096, 0.01, 0.0)
    assert (rm.lora_r, rm.lora_alpha, rm.lora_dropout) == (16, 32, 0.05)
    m = p.mcts  # _run_explore.py and llm_api.py
    assert (m.iterations, m.expand_n, m.top_k, m.alpha, m.w_exp, m.max_depth, m.expansion, m.temperature, m.top_p,
            m.clauses, m.drop_truncated, m.prompt, m.selector, m.rm_weight, m.exec_weight) == (
        8, 3, 3, 0.4, 100.0, 20, "samples", 0.9, 0.7, "nested", True, "psg", "best_path", 0.0, 0.0)
