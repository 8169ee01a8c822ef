"""MCTS: UCT selection and backup by hand, and a real search that never sees the gold."""

import math

import pytest

from sqlforge.engine.hf import TransformersEngine
from sqlforge.search.mcts import MCTS, Node, Search, backup, candidates, choose, select, terminals, uct

from conftest import repo_params


def test_uct_orders_unvisited_by_intuition_then_exploration_term():
    parent = Node(prefix="", expanded=True, visits=10)
    a = Node(prefix="a", parent=parent, visits=5, q=50.0, intuition=1.0)
    b = Node(prefix="b", parent=parent, visits=1, q=45.0, intuition=2.0)
    c = Node(prefix="c", parent=parent, visits=0, intuition=0.5)
    parent.children = [a, b, c]
    # unvisited: intuition + w*sqrt(ln 10) = 152.2, below b: 45 + 100*sqrt(ln10/1) = 196.7
    assert uct(c, 10, 100.0) == 0.5 + 100.0 * math.sqrt(math.log(10))
    assert select(parent, 100.0)[-1] is b
    c.intuition = 60.0  # 211.7 now leads
    assert select(parent, 100.0)[-1] is c
    assert select(parent, 0.0)[-1] is c  # pure exploitation: intuition 60 over Q 50 and 45


def test_backup_uses_the_mean_below_each_node_and_keeps_max():
    root = Node(prefix="")
    a = Node(prefix="a", parent=root, reward=10.0)
    b = Node(prefix="a b", parent=a, reward=30.0)
    backup([root, a, b])
    assert (root.visits, a.visits, b.visits) == (1, 1, 1)
    assert (b.q, a.q, root.q) == (30.0, 20.0, 40.0 / 3)
    b.reward = 0.0
    backup([root, a, b])
    assert a.q == 20.0 and a.visits == 2 and b.q == 30.0  # Q = max over backups


def test_choose_prefers_executable_candidates():
    cands = [{"sql": "x", "visits": 5, "q": 90.0, "reward": 99.0, "exec_status": "syntax", "exec_key": "e"},
             {"sql": "y", "visits": 1, "q": 10.0, "reward": 80.0, "exec_status": "ok", "exec_key": "a"},
             {"sql": "z", "visits": 3, "q": 20.0, "reward": 70.0, "exec_status": "ok", "exec_key": "b"},
             {"sql": "w", "visits": 2, "q": 20.0, "reward": 60.0, "exec_status": "ok", "exec_key": "b"}]
    assert choose(cands, "best_reward")["sql"] == "y"
    # best_path needs path rewards: without any visited path it chooses nothing (SQL-o1's empty answer);
    # best_path_or_reward falls back to the last node's reward
    assert choose(cands, "best_path") is None
    assert choose(cands, "best_path_or_reward")["sql"] == "x"
    assert choose(cands, "most_visited")["sql"] == "z"
    assert choose(cands, "vote")["sql"] == "z"  # result "b" has 5 visits behind it
    assert choose([], "best_reward") is None


def test_real_search_without_gold(tiny_model, demo_records):
    engine = TransformersEngine(str(tiny_model), batch_size=16)
    # the search gets records stripped of everything gold: a lookup of it would raise KeyError
    golds = [r["gold"] for r in demo_records["dev"][:3]]
    records = [{k: v for k, v in r.items() if k not in ("gold", "db_path")} for r in demo_records["dev"][:3]]
    searches = [Search(rec, engine.tokenizer) for rec in records]
    mcts = MCTS(engine, engine.tokenizer, repo_params({"mcts": {"iterations": 2, "expand_n": 2, "top_k": 2}}).mcts, max_new_tokens=16)
    mcts.run(searches)
    for search, gold in zip(searches, golds):
        assert gold not in search.base_prompt
        assert search.root.visits == 2
        for cand in candidates(search):
            assert cand["sql"] and cand["visits"] >= 0
    assert engine.calls > 0


def test_prompt_modes_put_the_prefix_in_the_reply_and_psg_also_in_the_slot(tiny_model, demo_records):
    engine = TransformersEngine(str(tiny_model), batch_size=16)
    rec = demo_records["dev"][0]
    prefix = "SELECT name FROM"
    psg, continuation = Search(rec, engine.tokenizer), Search(rec, engine.tokenizer, prefix_in_prompt=False)
    assert psg.prompt(prefix).endswith("assistant\n" + prefix)
    assert continuation.prompt(prefix).endswith("assistant\n" + prefix)
    # psg: SQL-o1's "incomplete SQL" slot holds the prefix; continuation: the plain inference prompt + prefix
    assert psg.prompt(prefix).count(prefix) == 2
    assert continuation.prompt(prefix) == continuation.base_prompt + prefix
    assert psg.base_prompt == continuation.base_prompt


def test_reasoning_lead_is_the_rationale_up_to_the_opening_fence():
    from sqlforge.search.mcts import reasoning_lead

    reply = "Let me think.\n1. Rows from singer.\n\n```sql\nSELECT name FROM singer\n```"
    assert reasoning_lead(reply) == "Let me think.\n1. Rows from singer.\n\n```sql\n"
    # cut off before its SQL block: the whole rationale, then the fence the SQL goes in
    assert reasoning_lead("Let me think.\n1. Rows from") == "Let me think.\n1. Rows from\n\n```sql\n"
    assert reasoning_lead("") == "```sql\n"


def test_a_reasoning_model_is_searched_after_its_rationale(tiny_model, demo_records):
    """reasoning: one greedy pass writes each question's rationale (the lead); every prompt the search makes
    is the plain inference prompt + lead + SQL prefix, actions are read up to the closing fence, and the
    goal of a complete SQL scores the closing fence and the end token after it. A bare search is unchanged."""
    from sqlforge.engine.base import Completion
    from sqlforge.search.mcts import FENCE_CLOSE, FENCE_OPEN, reasoning_lead

    engine = TransformersEngine(str(tiny_model), batch_size=16)
    records = [{k: v for k, v in r.items() if k not in ("gold", "db_path")} for r in demo_records["dev"][:2]]
    settings = repo_params({"mcts": {"iterations": 1, "expand_n": 2, "top_k": 2, "drop_truncated": False}}).mcts
    bare = [Search(rec, engine.tokenizer) for rec in records]
    reasoned = [Search(rec, engine.tokenizer, reasoning=True) for rec in records]
    plain_prompts = [se.base_prompt for se in bare]
    mcts = MCTS(engine, engine.tokenizer, settings, max_new_tokens=12)
    mcts.run(reasoned)
    greedy = engine.generate(plain_prompts, n=1, temperature=0.0, max_new_tokens=12)
    for se, plain, out in zip(reasoned, plain_prompts, greedy):
        assert se.lead == reasoning_lead(out[0].text) and se.lead.endswith(FENCE_OPEN)
        assert se.base_prompt == plain + se.lead
        assert se.prompt("SELECT name").endswith(se.lead + "SELECT name")
        assert all("```" not in c["sql"] for c in candidates(se))
        assert se.root.visits == 1
    # a completion is read up to its closing fence; a complete action's score includes fence and end token
    node = Node(prefix="SELECT name")
    children = mcts._children(node, [Completion(" FROM singer\n```\nDone.")], reasoning=True)
    assert [(c.action, c.complete) for c in children] == [(" FROM singer", True)]
    bare_children = mcts._children(node, [Completion(" FROM singer")])
    assert [(c.action, c.complete) for c in bare_children] == [(" FROM singer", True)]
    se, eos = reasoned[0], engine.tokenizer.eos_token
    complete = [c for c in terminals(se.root) if c.complete]
    assert complete, "the tiny model's 12-token completions end the SQL at the root level"
    for c in complete:
        direct = engine.score([se.base_prompt], [c.prefix + FENCE_CLOSE + eos])[0].total
        assert c.goal == pytest.approx(100.0 + direct, abs=1e-4)
