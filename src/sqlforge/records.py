"""The records stages pass to each other, defined once.

Each record is a TypedDict (what a JSONL line holds; static checkers see the
fields) with its required fields listed beside it, read by `read_records`,
which checks them and names the file and line of a record that lacks one.
The helpers below are the one place that builds what several stages need:
an example's inference prompt, and revision distances, which are infinite in
code and null in JSON.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, TypedDict

from sqlforge.io import InputError, read_jsonl
from sqlforge.prompts import sql_messages

UNREACHABLE = math.inf  # revision distance of a node no correct SQL can be reached from


class Example(TypedDict):
    """`data/prepared/{train,dev}.jsonl`: one question (`datasets.Example`) plus its schema text."""
    id: str
    db_id: str
    db_path: str
    question: str
    evidence: str  # BIRD's external knowledge; "" for Spider and the demo
    gold: str
    difficulty: str
    split: str
    schema: str


class SFTExample(TypedDict):
    """`data/prepared/sft.jsonl`: chat prompt and the gold SQL as the one assistant message."""
    id: str
    psg_prefix: str  # "" for plain examples
    revision_of: str  # the wrong SQL a revision prompt shows; "" otherwise
    prompt: list[dict]
    completion: list[dict]


class TreeNode(TypedDict):
    id: int
    parent: int  # -1 at the root level
    depth: int
    sql: str
    correct: bool
    error_kind: str
    distance: float | None  # revision distance; null (JSON) = UNREACHABLE
    kept: bool


class Tree(TypedDict):
    """`data/trees/shard-i/trees.jsonl`."""
    question_id: str
    db_id: str
    solved_at_root: bool
    solved: bool
    nodes: list[TreeNode]


class Pair(TypedDict):
    """`data/pairs/{train,test}.jsonl`: what train-rm and evaluate-rm read."""
    id: str
    question_id: str
    db_id: str
    prompt: list[dict]  # the inference prompt: never the gold
    chosen: str
    rejected: str
    chosen_distance: float | None
    rejected_distance: float | None
    kind: str  # emerge | baseline | execution


class CandidateSet(TypedDict):
    """`data/candidates/dev.jsonl`: index 0 the greedy SQL, then the samples."""
    id: str
    db_id: str
    candidates: list[dict]  # sql, logprob, source


class PolicySamples(TypedDict):
    """`data/policy_samples/train.jsonl`: the SFT policy's sampled SQLs for one train question, each with
    its log-prob and its verdict against the gold (correct, error_kind: "ok" = it ran)."""
    id: str
    db_id: str
    samples: list[dict]  # sql, logprob, correct, error_kind


class MCTSResult(TypedDict):
    """`data/mcts/results.jsonl`."""
    id: str
    db_id: str
    selector: str
    chosen_sql: str
    chosen_by_iterations: dict[str, str]
    candidates: list[dict]


def _required(kind: type) -> tuple[str, ...]:
    return tuple(kind.__annotations__)


def read_records(path: str | Path, kind: type) -> list[Any]:
    """A JSONL file of `kind` records; a record without one of its fields is a one-line InputError."""
    records = read_jsonl(path)
    fields = _required(kind)
    for line, record in enumerate(records, 1):
        missing = [f for f in fields if f not in record] if isinstance(record, dict) else ["(not an object)"]
        if missing:
            raise InputError(f"{path}: record at line {line} is not a {kind.__name__}: missing {', '.join(missing)}")
    return records


def inference_messages(example: Mapping[str, Any], prefix: str = "", templates: dict | None = None) -> list[dict]:
    """The chat messages an `Example` is asked with (schema, question, evidence, optional SQL prefix);
    typed as a mapping because stages also pass records they extended."""
    return sql_messages(example["schema"], example["question"], example["evidence"], prefix, templates)


def distance_to_json(distance: float) -> float | None:
    """JSON has no infinity: an unreachable node's distance is written as null."""
    return None if distance == UNREACHABLE else distance


def distance_from_json(value: float | None) -> float:
    return UNREACHABLE if value is None else value


def conversation(prompt: list[dict], sql: str) -> list[dict]:
    return list(prompt) + [{"role": "assistant", "content": sql}]
