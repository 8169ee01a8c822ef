"""ReSQLver revision trees: build, score by revision distance, prune, and turn into pairs.

A tree per training question: `branching` sampled candidates at the root
level; each wrong node above the last of `max_depth` generation levels gets a
revision prompt with execution feedback and `branching` revisions (ReSQLver's
tree_builder.py: max_depth 5 = five levels). Levels are expanded across all
questions of a shard in one engine call.

Revision distance: 0 for a correct node, 1 + min over children otherwise,
infinity when no correct node is reachable. Pruning keeps only nodes on a path
to a correct node (ReSQLver's _prune_tree); pairs come from the kept nodes.
docs/fidelity.md lists every rule beside ReSQLver's code.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from sqlforge.official.judge import bird_result_eq, gold_timeout
from sqlforge.extract import extract_sql
from sqlforge.io import atomic_path
from sqlforge.prompts import example_prompt, feedback, render, revision_messages
from sqlforge.records import UNREACHABLE

INF = UNREACHABLE  # distance of a node no correct SQL can be reached from


def stable_shard(question_id: str, num_shards: int) -> int:
    return int(hashlib.sha1(question_id.encode()).hexdigest(), 16) % num_shards


@dataclass
class TreeSettings:
    branching: int
    max_depth: int
    temperature: float
    top_p: float
    max_new_tokens: int
    seed: int
    gold_timeout_s: float
    t_min: float
    k: float
    c: float


def _load_checkpoint(path: Path | None, fingerprint: str) -> dict | None:
    if path is None or not path.is_file():
        return None
    state = json.loads(path.read_text(encoding="utf-8"))
    return state if state.get("fingerprint") == fingerprint else None  # stale: other inputs


def build_trees(records: list[dict], engine, tokenizer, executor, s: TreeSettings, progress=None,
                checkpoint: Path | None = None, fingerprint: str = "") -> list[dict]:
    """Trees for `records`. With `checkpoint`, the state after each finished level is saved there,
    and a run with the same `fingerprint` resumes from it: levels are seeded by depth, so a resumed
    run gives exactly what an uninterrupted one gives."""
    trees = []
    for rec in records:
        gold = executor.execute(rec["db_path"], rec["gold"], timeout_s=s.gold_timeout_s, trusted=True)
        if not gold.ok:
            raise RuntimeError(f"gold SQL of {rec['id']} fails: {gold.error}")
        trees.append({"question_id": rec["id"], "db_id": rec["db_id"], "nodes": [],
                      "_gold": gold, "_timeout": gold_timeout(gold.seconds, s.t_min, s.k, s.c), "_rec": rec})

    # open requests: (tree index, parent node index or -1, prompt)
    open_requests = [(t, -1, example_prompt(tokenizer, tree["_rec"])) for t, tree in enumerate(trees)]
    start_depth = 0
    state = _load_checkpoint(checkpoint, fingerprint)
    if state is not None:
        for tree, nodes in zip(trees, state["nodes"]):
            tree["nodes"] = nodes
        open_requests = [tuple(r) for r in state["open"]]
        start_depth = state["next_depth"]
        if progress:
            progress(start_depth, -1)
    last = s.max_depth - 1  # depths are 0-based: max_depth generation levels, as ReSQLver counts them
    for depth in range(start_depth, s.max_depth):
        if not open_requests:
            break
        outputs = engine.generate([p for _, _, p in open_requests], n=s.branching, temperature=s.temperature,
                                  top_p=s.top_p, max_new_tokens=s.max_new_tokens, seed=s.seed + depth)
        next_requests = []
        for (t, parent, _), completions in zip(open_requests, outputs):
            tree = trees[t]
            rec, gold = tree["_rec"], tree["_gold"]
            sqls = [extract_sql(comp.text) for comp in completions]
            results = executor.execute_many([(rec["db_path"], sql, tree["_timeout"]) for sql in sqls])
            for sql, result in zip(sqls, results):
                correct = result.ok and bool(bird_result_eq(gold.rows, result.rows))  # set semantics
                node = {"id": len(tree["nodes"]), "parent": parent, "depth": depth, "sql": sql,
                        "correct": correct, "error_kind": result.error_kind}
                tree["nodes"].append(node)
                if not correct and depth < last:
                    messages = revision_messages(rec["schema"], rec["question"], rec["evidence"], sql,
                                                 feedback(result, gold))
                    next_requests.append((t, node["id"], render(tokenizer, messages)))
        if progress:
            progress(depth, len(open_requests))
        open_requests = next_requests
        if checkpoint is not None:
            with atomic_path(checkpoint) as tmp:
                tmp.write_text(json.dumps({"fingerprint": fingerprint, "next_depth": depth + 1,
                                           "nodes": [tree["nodes"] for tree in trees],
                                           "open": open_requests}), encoding="utf-8")
    for tree in trees:
        for key in ("_gold", "_timeout", "_rec"):
            tree.pop(key)
        annotate(tree)
    return trees


def children_of(nodes: list[dict]) -> dict[int, list[int]]:
    children: dict[int, list[int]] = {n["id"]: [] for n in nodes}
    for n in nodes:
        if n["parent"] >= 0:
            children[n["parent"]].append(n["id"])
    return children


def annotate(tree: dict) -> None:
    """Set each node's revision distance and whether pruning keeps it: ReSQLver keeps only the nodes on
    a path to a correct node, i.e. exactly those with a finite distance."""
    nodes = tree["nodes"]
    children = children_of(nodes)
    distance: dict[int, float] = {}
    for n in sorted(nodes, key=lambda n: -n["depth"]):  # children before parents
        if n["correct"]:
            distance[n["id"]] = 0
        else:
            distance[n["id"]] = min((1 + distance[c] for c in children[n["id"]]), default=INF)
    for n in nodes:
        n["distance"] = distance[n["id"]]
        n["kept"] = distance[n["id"]] < INF
    tree["solved_at_root"] = any(n["correct"] and n["depth"] == 0 for n in nodes)
    tree["solved"] = any(n["correct"] for n in nodes)


def _pair(tree: dict, prompt, a: dict, b: dict, kind: str) -> dict:
    chosen, rejected = (a, b) if a["distance"] < b["distance"] else (b, a)
    return {"question_id": tree["question_id"], "db_id": tree["db_id"], "prompt": prompt,
            "chosen": chosen["sql"], "rejected": rejected["sql"], "chosen_distance": chosen["distance"],
            "rejected_distance": rejected["distance"], "kind": kind}


def pair_pool(tree: dict, keep_failed_siblings: bool = False) -> list[dict]:
    """The nodes pairs are drawn from: the pruned tree (ReSQLver), or with `keep_failed_siblings` also the
    unreachable siblings of kept nodes (sqlforge's earlier rule: a correct SQL against the candidates
    that failed beside it)."""
    nodes = tree["nodes"]
    kept = [n for n in nodes if n["distance"] < INF]  # what pruning keeps (`annotate`)
    if not keep_failed_siblings:
        return kept
    parents = {n["parent"] for n in kept}
    return [n for n in nodes if n["distance"] < INF or n["parent"] in parents]


def emerge_groups(pool: list[dict]) -> list[list[dict]]:
    """For each node, ReSQLver's candidate set {node, parent, children, siblings} within the pool (so it
    also pairs grandparent with grandchild and uncle with nephew), in id order."""
    by_id = {n["id"]: n for n in pool}
    kids = {i: [] for i in by_id}
    for n in pool:
        if n["parent"] in kids:
            kids[n["parent"]].append(n)
    siblings: dict[int, list[dict]] = {}
    for n in pool:
        siblings.setdefault(n["parent"], []).append(n)
    groups = []
    for n in sorted(pool, key=lambda n: n["id"]):
        members = {n["id"]: n}
        if n["parent"] in by_id:
            members[n["parent"]] = by_id[n["parent"]]
        members.update({m["id"]: m for m in kids[n["id"]] + siblings[n["parent"]]})
        groups.append([members[i] for i in sorted(members)])
    return groups


def extract_pairs(tree: dict, prompt, kinds: list[str], keep_failed_siblings: bool = False) -> list[dict]:
    """Preference pairs of one annotated tree; `prompt` is the inference prompt (no gold).

    emerge: every two nodes of an `emerge_groups` set with different distances, the smaller chosen.
    baseline: deepest correct x shallowest wrong nodes of the pool. Both skip empty SQL (ReSQLver).
    Each kind is deduplicated on its own, as ReSQLver writes the two kinds to separate files (so with both
    kinds a pair may appear once as emerge and once as baseline); unlike ReSQLver (node pairs), by SQL text,
    and a pair whose two SQLs are the same text is dropped: it carries no signal a reward model can learn."""
    pool = pair_pool(tree, keep_failed_siblings)
    pairs, seen = [], set()

    def add(a, b, kind):
        if a["distance"] == b["distance"] or a["sql"] == b["sql"] or not a["sql"].strip() or not b["sql"].strip():
            return
        pair = _pair(tree, prompt, a, b, kind)
        key = (kind, pair["chosen"], pair["rejected"])
        if key not in seen:
            seen.add(key)
            pairs.append(pair)

    if "emerge" in kinds:
        for group in emerge_groups(pool):
            for i, a in enumerate(group):
                for b in group[i + 1:]:
                    add(a, b, "emerge")
    if "baseline" in kinds:
        correct = [n for n in pool if n["correct"] and n["sql"].strip()]
        wrong = [n for n in pool if not n["correct"] and n["sql"].strip()]
        if correct and wrong:
            deepest = max(n["depth"] for n in correct)
            shallowest = min(n["depth"] for n in wrong)
            for a in (n for n in correct if n["depth"] == deepest):
                for b in (n for n in wrong if n["depth"] == shallowest):
                    add(a, b, "baseline")
    return pairs
