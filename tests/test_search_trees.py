"""Revision distance, pruning and pair extraction on hand-built trees."""

import math

from sqlforge.search.trees import annotate, extract_pairs, stable_shard


def node(i, parent, depth, sql, correct):
    return {"id": i, "parent": parent, "depth": depth, "sql": sql, "correct": correct, "error_kind": "ok"}


def hand_tree():
    # root level: A (wrong) and B (wrong); A's revisions: C (correct), D (wrong); B's revisions: E, F (wrong)
    return {"question_id": "train-1", "db_id": "db", "nodes": [
        node(0, -1, 0, "A", False), node(1, -1, 0, "B", False),
        node(2, 0, 1, "C", True), node(3, 0, 1, "D", False),
        node(4, 1, 1, "E", False), node(5, 1, 1, "F", False)]}


def test_distances_and_pruning():
    tree = hand_tree()
    annotate(tree)
    dist = {n["sql"]: n["distance"] for n in tree["nodes"]}
    assert dist == {"A": 1, "B": math.inf, "C": 0, "D": math.inf, "E": math.inf, "F": math.inf}
    kept = {n["sql"] for n in tree["nodes"] if n["kept"]}
    # ReSQLver's pruning: only the path reaching a correct node survives
    assert kept == {"A", "C"}
    assert not tree["solved_at_root"] and tree["solved"]


def test_pairs_on_hand_built_tree():
    tree = hand_tree()
    annotate(tree)
    prompt = [{"role": "user", "content": "q"}]
    pairs = extract_pairs(tree, prompt, ["emerge", "baseline"])
    # pruned tree {A, C}: one emerge pair; baseline (deepest correct x shallowest wrong) finds the same pair,
    # kept under its own kind as ReSQLver writes the kinds to separate files
    assert [(p["kind"], p["chosen"], p["rejected"]) for p in pairs] == [("emerge", "C", "A"), ("baseline", "C", "A")]
    # keep_failed_siblings (sqlforge's earlier rule) also pairs the dead-end siblings B and D
    wide = extract_pairs(tree, prompt, ["emerge", "baseline"], keep_failed_siblings=True)
    assert {(p["kind"], p["chosen"], p["rejected"]) for p in wide} == {
        ("emerge", "A", "B"), ("emerge", "C", "A"), ("emerge", "C", "D"), ("emerge", "A", "D"),
        ("emerge", "C", "B"),  # uncle and nephew: B is a sibling of A, C a child of A
        ("baseline", "C", "A"), ("baseline", "C", "B")}
    for p in pairs + wide:
        assert p["chosen_distance"] < p["rejected_distance"]
        assert set(p) >= {"question_id", "db_id", "prompt", "chosen", "rejected", "chosen_distance",
                          "rejected_distance", "kind"}


def test_stable_shard_is_deterministic_and_spread():
    ids = [f"train-{i:05d}" for i in range(400)]
    shards = [stable_shard(i, 2) for i in ids]
    assert shards == [stable_shard(i, 2) for i in ids]
    assert 150 < shards.count(0) < 250
