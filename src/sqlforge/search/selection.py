"""Choosing one SQL among a question's candidates, without the gold.

Fair selectors see only the candidates, their model scores and their own
execution results: majority vote over execution results (self-consistency)
and best-of-N by reward model. `oracle_pass_at_n` uses the gold verdicts and
exists only to report an upper bound under a name that says so.
"""

from __future__ import annotations

from collections import defaultdict

from sqlforge.sandbox.sqlite import ExecResult


def result_signature(result: ExecResult) -> tuple | None:
    """Order-insensitive identity of a result; None for a failed query (it gets no vote)."""
    if not result.ok:
        return None
    return tuple(sorted(repr(row) for row in result.rows))


def majority_vote(results: list[ExecResult], logprobs: list[float]) -> int:
    """Index of the chosen candidate: the largest group of identical execution results;
    ties go to the group whose best member the policy found most likely. Index 0 (greedy) if
    every candidate failed."""
    groups: dict[tuple, list[int]] = defaultdict(list)
    for i, result in enumerate(results):
        signature = result_signature(result)
        if signature is not None:
            groups[signature].append(i)
    if not groups:
        return 0
    best = max(groups.values(), key=lambda members: (len(members), max(logprobs[i] for i in members), -members[0]))
    return max(best, key=lambda i: (logprobs[i], -i))


def best_of_n(scores: list[float]) -> int:
    """Index of the highest reward-model score (first on ties)."""
    return max(range(len(scores)), key=lambda i: (scores[i], -i))


def best_of_n_combined(rm_scores: list[float], logprobs: list[float], logprob_weight: float) -> int:
    """Index of the highest reward-model score plus `logprob_weight` times the policy's log-prob (first on
    ties): the reward model's judgement, tempered by how likely the policy found the SQL (Contextual-SQL
    combines the two the same way)."""
    return best_of_n([s + logprob_weight * lp for s, lp in zip(rm_scores, logprobs)])


def regroup(flat: list, sizes: list[int]) -> list[list]:
    """Cut a flat list (every question's candidates in a row) back into one list per question."""
    out, start = [], 0
    for size in sizes:
        out.append(flat[start:start + size])
        start += size
    return out


def select(candidates: dict, results: list[ExecResult], rm_scores: list[float] | None,
           logprob_weight: float) -> dict[str, str]:
    """The SQL each fair selector picks for one question's candidate record; `logprob_weight` is
    best_of_n_rm_logprob's (validate.rm_logprob_weight)."""
    sqls = [c["sql"] for c in candidates["candidates"]]
    logprobs = [c["logprob"] for c in candidates["candidates"]]
    picks = {"greedy": sqls[0], "majority_vote": sqls[majority_vote(results, logprobs)]}
    if rm_scores is not None:
        picks["best_of_n_rm"] = sqls[best_of_n(rm_scores)]
        picks["best_of_n_rm_logprob"] = sqls[best_of_n_combined(rm_scores, logprobs, logprob_weight)]
    return picks
