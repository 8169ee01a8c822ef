"""ReSQLver revision trees: build, score by revision distance, prune, and turn into pairs.

A tree per training question: `branching` sampled candidates at the root
level; each wrong node below `max_depth` gets a revision prompt with
execution feedback and `branching` revisions. Levels are expanded across
all questions of a shard in one engine call.

Revision distance: 0 for a correct node, 1 + min over children otherwise,
infinity when no correct node is reachable.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

from sqlforge.evaluation import bird_result_eq, gold_timeout
from sqlforge.extract import extract_sql
from sqlforge.io import atomic_path
from sqlforge.prompts import example_prompt, render, revision_messages

INF = math.inf


def stable_shard(question_id: str, num_shards: int) -> int:
    return int(hashlib.sha1(question_id.encode()).hexdigest(), 16) % num_shards


def _rows(rows: list[tuple], k: int = 3) -> str:
    return "; ".join(str(tuple(r)) for r in rows[:k])


def feedback(result, gold_rows: list[tuple]) -> str:
    """Execution feedback for a wrong SQL. Derived from gold rows: training data only."""
    if not result.ok:
        return f"The query failed ({result.error_kind}): {result.error}"
    lines = []
    got_cols = len(result.rows[0]) if result.rows else 0
    want_cols = len(gold_rows[0]) if gold_rows else 0
    if len(result.rows) != len(gold_rows) or got_cols != want_cols:
        lines.append(f"It returned {len(result.rows)} rows with {got_cols} columns; the expected result has "
                     f"{len(gold_rows)} rows with {want_cols} columns.")
    missing = [r for r in gold_rows if r not in set(result.rows)]
    unexpected = [r for r in result.rows if r not in set(gold_rows)]
    if missing:
        lines.append(f"Missing rows, e.g. {_rows(missing)}")
    if unexpected:
        lines.append(f"Unexpected rows, e.g. {_rows(unexpected)}")
    return "\n".join(lines) or "The result differs from the expected result."


@dataclass
class TreeSettings:
    branching: int
    max_depth: int
    temperature: float
    top_p: float
    max_new_tokens: int
    seed: int
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
        gold = executor.execute(rec["db_path"], rec["gold"], timeout_s=60.0)
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
    for depth in range(start_depth, s.max_depth + 1):
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
                if not correct and depth < s.max_depth:
                    messages = revision_messages(rec["schema"], rec["question"], rec["evidence"], sql,
                                                 feedback(result, gold.rows))
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
    """Set each node's revision distance and whether pruning keeps it."""
    nodes = tree["nodes"]
    children = children_of(nodes)
    distance: dict[int, float] = {}
    for n in sorted(nodes, key=lambda n: -n["depth"]):  # children before parents
        if n["correct"]:
            distance[n["id"]] = 0
        else:
            distance[n["id"]] = min((1 + distance[c] for c in children[n["id"]]), default=INF)
    reaching = {i for i, d in distance.items() if d < INF}
    # keep paths that reach a correct node, plus their siblings (so a correct node is compared with
    # the candidates that failed beside it)
    parents_on_paths = {nodes[i]["parent"] for i in reaching}
    for n in nodes:
        n["distance"] = distance[n["id"]]
        n["kept"] = n["id"] in reaching or n["parent"] in parents_on_paths
    tree["solved_at_root"] = any(n["correct"] and n["depth"] == 0 for n in nodes)
    tree["solved"] = any(n["correct"] for n in nodes)


def _pair(tree: dict, prompt, a: dict, b: dict, kind: str) -> dict:
    chosen, rejected = (a, b) if a["distance"] < b["distance"] else (b, a)
    return {"question_id": tree["question_id"], "db_id": tree["db_id"], "prompt": prompt,
            "chosen": chosen["sql"], "rejected": rejected["sql"], "chosen_distance": chosen["distance"],
            "rejected_distance": rejected["distance"], "kind": kind}


def extract_pairs(tree: dict, prompt, kinds: list[str]) -> list[dict]:
    """Preference pairs of one annotated tree; `prompt` is the inference prompt (no gold)."""
    nodes = tree["nodes"]
    kept = [n for n in nodes if n["kept"]]
    pairs, seen = [], set()

    def add(a, b, kind):
        if a["distance"] == b["distance"] or a["sql"] == b["sql"]:
            return
        pair = _pair(tree, prompt, a, b, kind)
        key = (pair["chosen"], pair["rejected"])
        if key not in seen:
            seen.add(key)
            pairs.append(pair)

    if "emerge" in kinds:
        by_id = {n["id"]: n for n in kept}
        for n in kept:
            if n["parent"] in by_id:
                add(n, by_id[n["parent"]], "emerge")
            for m in kept:
                if m["id"] > n["id"] and m["parent"] == n["parent"]:
                    add(n, m, "emerge")
    if "baseline" in kinds:
        correct = [n for n in nodes if n["correct"]]
        wrong = [n for n in nodes if not n["correct"]]
        if correct and wrong:
            deepest = max(n["depth"] for n in correct)
            shallowest = min(n["depth"] for n in wrong)
            for a in (n for n in correct if n["depth"] == deepest):
                for b in (n for n in wrong if n["depth"] == shallowest):
                    add(a, b, "baseline")
    return pairs


def json_distance(value: float):
    """JSON has no infinity: unreachable distance is written as null."""
    return None if value == INF else value
